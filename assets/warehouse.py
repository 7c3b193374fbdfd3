"""The analyst warehouse asset: documented DuckDB views over the lake and the model
results, rebuilt atomically after the models."""

import dagster as dg

from assets.ingest import access_logs
from assets.models import CATALOG, model_assets
from assets.partitions import DAILY, SINGLE_RUN
from assets.resources import LakeResource, SecurityResource, WarehouseResource
from pipelines.sql import warehouse as wh


@dg.asset(deps=[access_logs, *model_assets], partitions_def=DAILY, backfill_policy=SINGLE_RUN,
          group_name="warehouse", kinds={"duckdb"})
def analyst_warehouse(lake: LakeResource, warehouse: WarehouseResource,
                      security: SecurityResource) -> dg.MaterializeResult:
    """A DuckDB file of documented views (access_logs with derived columns, quarantine, one
    per model), seeded tables and macros; open it with `s3logs query` or `s3logs shell`."""
    counts = wh.build(lake.lake(), warehouse.path, CATALOG, security.files())
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(warehouse.path),
        **{f"rows_{view}": n for view, n in counts.items()},
        "views": dg.MetadataValue.json(sorted(counts)),
    })
