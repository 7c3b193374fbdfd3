"""SQL model assets: one per model file of the SQL catalog (kind INCREMENTAL_BY_TIME_RANGE),
downstream of access_logs and of the models its SQL reads, recomputing exactly the days of
the run (the daily run includes the trailing late days). Each carries its header's
description and column schema, and audits its grain on every materialization."""

from datetime import date

import dagster as dg

from assets import checks as dagster_checks
from assets.ingest import access_logs
from assets.partitions import DAILY, SINGLE_RUN
from assets.resources import LakeResource
from pipelines import checks, models
from pipelines.catalog import Kind, Model, load
from pipelines.session import Column, columns


def _dep(model: Model, upstream: str) -> dg.AssetDep:
    """A day of the model needs the upstream model's days its window reads, so a backfill
    runs a day after the summaries it reads (the runner would compute missing ones)."""
    days = model.window.days_before(model.parameters)
    if not days:
        return dg.AssetDep(upstream)
    return dg.AssetDep(upstream, partition_mapping=dg.TimeWindowPartitionMapping(
        start_offset=-days, end_offset=0, allow_nonexistent_upstream_partitions=True))


def _model_asset(model: Model, cols: list[Column], upstream: list[str]) -> dg.AssetsDefinition:
    grain = checks.grain_spec(model)

    @dg.asset(name=model.name, deps=[access_logs, *(_dep(model, u) for u in upstream)],
              partitions_def=DAILY,
              backfill_policy=SINGLE_RUN, group_name="models", kinds={"duckdb", "parquet"},
              description=model.description,
              check_specs=[dagster_checks.spec(grain, model.name)],
              metadata={"sql": model.path, "grain": ", ".join(model.grain),
                        "dagster/column_schema": dg.TableSchema(columns=[
                            dg.TableColumn(c.name, c.type, description=c.doc) for c in cols])})
    def _asset(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.MaterializeResult:
        keys = context.partition_key_range
        lk = lake.lake()
        run = models.run_model(lk, model.name, date.fromisoformat(keys.start),
                               date.fromisoformat(keys.end), memory_limit=lake.memory_limit)
        for filled in run.filled:
            context.log.info(f"computed {filled.model} for {filled.days[0]}..{filled.days[-1]} "
                             f"first: {model.name}'s window reads it ({filled.rows:,} rows)")
        if not run.audit.passed:
            context.log.error(f"{run.audit.summary}: the lake keeps its previous results for "
                              f"{keys.start}..{keys.end}")
        return dg.MaterializeResult(
            metadata={"dagster/row_count": run.rows, "days": len(run.days),
                      "window": model.window.describe(),
                      "filled_days": sum(len(f.days) for f in run.filled),
                      "files": len(run.files), "written": run.audit.passed,
                      "path": dg.MetadataValue.path(lk.loc.display(lk.path("marts", model.name)))},
            check_results=[dagster_checks.result(run.audit)])

    return _asset


def _assets() -> list[dg.AssetsDefinition]:
    catalog = load()
    documented = columns(catalog)
    return [_model_asset(m, documented[m.name], catalog.reads(m, Kind.MODEL))
            for m in catalog.of(Kind.MODEL)]


model_assets = _assets()
