"""The analyst warehouse asset: documented DuckDB views over the lake, rebuilt atomically.
(The SQL model assets of the next stage slot in between `access_logs` and this.)"""

import dagster as dg

from assets.ingest import access_logs
from assets.partitions import DAILY, SINGLE_RUN
from assets.resources import LakeResource, WarehouseResource
from pipelines import warehouse as wh


@dg.asset(deps=[access_logs], partitions_def=DAILY, backfill_policy=SINGLE_RUN,
          group_name="warehouse", pool="warehouse", kinds={"duckdb"})
def analyst_warehouse(lake: LakeResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """A DuckDB file with a view per lake table, every column commented; open it with
    `duckdb data/warehouse.duckdb` or `s3logs query`."""
    counts = wh.build(lake.lake(), warehouse.path)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(warehouse.path),
        **{f"rows_{view}": n for view, n in counts.items()},
    })
