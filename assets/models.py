"""SQL model assets: one per model file of the SQL catalog (kind INCREMENTAL_BY_TIME_RANGE),
downstream of access_logs and of the models its SQL reads, recomputing exactly the days of
the run (the daily run includes the trailing late days). Each carries its header's
description and column schema, and audits its grain on every materialization.

A model's days are independent steps: the run's days split into spans of at most
SPAN_DAYS, each computed by a step of its own, so the multiprocess executor (or a
distributed one) computes a backfill's spans at once. A span's days read earlier days only
from the models upstream (its window), which the run has finished before, so spans never
wait for each other; a last step gathers their audits into the asset's grain check, and
runs the audits the header declares (`audits (...)`, pipelines.sql.audits) on the rows the
lake holds for the run's days, one asset check each."""

from datetime import date

import dagster as dg

from assets import checks as dagster_checks
from assets.partitions import DAILY, SINGLE_RUN
from assets.resources import LakeResource, SecurityResource
from pipelines.config import settings
from pipelines.sql import audits, checks, models
from pipelines.sql.catalog import Catalog, Kind, Model, load
from pipelines.sql.session import Column, columns

SPAN_DAYS = 7  # a daily run (yesterday and its late days) is one step; a month is five


def spans(keys: list[str]) -> list[tuple[str, str]]:
    """The run's days (sorted partition keys) as spans of at most SPAN_DAYS."""
    return [(keys[i], keys[min(i + SPAN_DAYS, len(keys)) - 1])
            for i in range(0, len(keys), SPAN_DAYS)]


def _dep(model: Model, upstream: str) -> dg.AssetIn:
    """A day of the model needs the upstream model's days its window reads, so a backfill
    runs a day after the summaries it reads (the runner would compute missing ones)."""
    days = model.window.days_before(model.parameters)
    mapping = dg.TimeWindowPartitionMapping(
        start_offset=-days, end_offset=0, allow_nonexistent_upstream_partitions=True) \
        if days else None
    return dg.AssetIn(upstream, dagster_type=dg.Nothing, partition_mapping=mapping)


def _model_asset(model: Model, cols: list[Column], upstream: list[str],
                 catalog: Catalog) -> dg.AssetsDefinition:
    check = dagster_checks.spec(checks.grain_spec(model), model.name)
    declared = [dagster_checks.spec(audits.spec(a), model.name) for a in model.audits]
    check_outputs = [c.get_python_identifier() for c in [check, *declared]]

    @dg.op(name=f"{model.name}_spans", ins={n: dg.In(dg.Nothing) for n in ["access_logs",
                                                                         *upstream]},
           out=dg.DynamicOut())
    def split(context: dg.OpExecutionContext):
        for first, last in spans(sorted(context.partition_keys)):
            yield dg.DynamicOutput((first, last), mapping_key=first.replace("-", "_"))

    @dg.op(name=f"{model.name}_span")
    def compute(context: dg.OpExecutionContext, span: tuple, lake: LakeResource,
                security: SecurityResource) -> models.ModelRun:
        first, last = span
        run = models.run_model(lake.lake(), model.name, date.fromisoformat(first),
                               date.fromisoformat(last), catalog=catalog,
                               memory_limit=lake.memory_limit, policy_files=security.files())
        for filled in run.filled:
            context.log.info(f"computed {filled.model} for {filled.days[0]}..{filled.days[-1]} "
                             f"first: {model.name}'s window reads it ({filled.rows:,} rows)")
        if not run.audit.passed:
            context.log.error(f"{run.audit.summary}: the lake keeps its previous results for "
                              f"{first}..{last}")
        return run

    @dg.op(name=f"{model.name}_written",
           out={"result": dg.Out(dg.Nothing), **{name: dg.Out() for name in check_outputs}})
    def gather(context: dg.OpExecutionContext, runs: list, lake: LakeResource):
        lk = lake.lake()
        audit = checks.grain_of_spans(model, [r.audit for r in runs])
        days = sorted(d for r in runs for d in r.days)
        yield dg.Output(None, "result", metadata={
            "dagster/row_count": sum(r.rows for r in runs),
            "days": sum(len(r.days) for r in runs), "steps": len(runs),
            "files": sum(len(r.files) for r in runs), "written": audit.passed,
            "window": model.window.describe(),
            "filled_days": sum(len(f.days) for r in runs for f in r.filled),
            "path": dg.MetadataValue.path(lk.loc.display(lk.path("marts", model.name)))})
        yield dagster_checks.result(audit, asset=model.name)
        for result in audits.run(lk, catalog, model, date.fromisoformat(days[0]),
                                 date.fromisoformat(days[-1]),
                                 memory_limit=lake.memory_limit):
            yield dagster_checks.result(result, asset=model.name)

    def body(**upstream_results):
        outputs = gather(split(**upstream_results).map(compute).collect())
        return {"result": outputs.result,
                **{name: getattr(outputs, name) for name in check_outputs}}

    return dg.graph_asset(
        name=model.name, partitions_def=DAILY, backfill_policy=SINGLE_RUN,
        group_name=model.subject, kinds={"duckdb", "parquet"}, description=model.description,
        ins={"access_logs": dg.AssetIn("access_logs", dagster_type=dg.Nothing),
             **{u: _dep(model, u) for u in upstream}},
        check_specs=[check, *declared],
        metadata={"sql": model.path, "grain": ", ".join(model.grain),
                  "dagster/column_schema": dg.TableSchema(columns=[
                      dg.TableColumn(c.name, c.type, description=c.doc) for c in cols])},
    )(body)


# The models become assets when the code location loads: a team's own SQL folder
# (S3LOGS_SQL_DIR) is read here, once, with the other settings of the location, and every
# asset that runs SQL uses this catalog.
CATALOG = load(extra=settings().sql_dir)


def assets_for(catalog: Catalog) -> list[dg.AssetsDefinition]:
    """One asset per model of `catalog`, with its grain check and one check per audit."""
    documented = columns(catalog)
    return [_model_asset(m, documented[m.name], catalog.reads(m, Kind.MODEL), catalog)
            for m in catalog.of(Kind.MODEL)]


model_assets = assets_for(CATALOG)


def read_by(*entries: str, catalog: Catalog = CATALOG) -> list[dg.AssetsDefinition]:
    """The model assets an asset that runs the catalog's `entries` reads: those entries
    that are models, and the models the others (queries, views, macros) read. An asset's
    deps, exactly what its SQL reads, so that it waits for those models and no others
    (the report runs two queries and three models, not every model)."""
    read = {name for e in map(catalog.__getitem__, entries)
            for name in ([e.name] if e.kind == Kind.MODEL else catalog.reads(e, Kind.MODEL))}
    return [a for a in model_assets if a.key.path[-1] in read]
