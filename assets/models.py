"""SQL model assets: one per model in sql/, downstream of access_logs, recomputing exactly
the days of the run (the daily run includes the trailing late days)."""

from datetime import date

import dagster as dg

from assets.ingest import access_logs
from assets.partitions import DAILY, SINGLE_RUN
from assets.resources import LakeResource
from pipelines import models


def _model_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(name=name, deps=[access_logs], partitions_def=DAILY, backfill_policy=SINGLE_RUN,
              group_name="models", kinds={"duckdb", "parquet"},
              description=models.model_doc(name))
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        keys = context.partition_key_range
        run = models.run_model(lake.lake(), name, date.fromisoformat(keys.start),
                               date.fromisoformat(keys.end))
        return dg.MaterializeResult(metadata={
            "dagster/row_count": run.rows,
            "days": len(run.days),
            "files": len(run.files),
            "path": dg.MetadataValue.path(lake.lake().loc.display(
                lake.lake().path("marts", name))),
        })

    return _asset


model_assets = [_model_asset(name) for name in models.model_names()]
