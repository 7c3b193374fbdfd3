"""Ingestion assets: the day's log objects (listing), then the lake records of the day."""


import time
from datetime import date
from typing import Any

import dagster as dg

from assets import checks as dagster_checks
from assets.partitions import DAILY, SINGLE_RUN
from assets.resources import LakeResource, LogSourcesResource
from pipelines import retention
from pipelines.ingestion.ingest import (
    FolderGroup,
    FoldersRebuilt,
    finish_rebuild,
    folder_groups,
    ingest_unit,
    rebuild_folders,
)
from pipelines.ingestion.planning import plan
from pipelines.ingestion.results import RunReport, UnitOutcome
from pipelines.ingestion.units import migrate
from pipelines.sql import checks

CHECKS = [dagster_checks.spec(c, "access_logs") for c in checks.INGEST_CHECKS]


def _days(context: dg.OpExecutionContext) -> list[date]:
    return [date.fromisoformat(k) for k in context.partition_keys]


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, group_name="ingest",
          kinds={"s3", "json"})
def log_objects(context: dg.AssetExecutionContext, log_sources: LogSourcesResource,
                lake: LakeResource) -> dg.MaterializeResult:
    """The log objects filed under each day, per source, and which are new or changed
    since the day's manifest. Listing costs a LIST request per 1,000 of the day's objects.
    `access_logs` lists again when it runs: a plan saved in between could be stale by then
    (another run, more deliveries), and the listing is cheap."""
    sources, lk = log_sources.sources(), lake.lake()
    before = sum(s.counts["LIST"] for s in sources)
    plans = plan(sources, lk, _days(context))
    table = "| day | source | listed | new or changed | bytes to fetch | not log keys |\n" \
            "|---|---|---:|---:|---:|---:|\n" + "\n".join(
                f"| {p.day} | {p.source} | {len(p.listed):,} | {len(p.todo):,} | "
                f"{sum(o.size for o in p.todo):,} | {len(p.unrecognized)} |" for p in plans)
    return dg.MaterializeResult(metadata={
        "objects_listed": sum(len(p.listed) for p in plans),
        "objects_new_or_changed": sum(len(p.todo) for p in plans),
        "bytes_to_fetch": sum(o.size for p in plans for o in p.todo),
        "list_requests": sum(s.counts["LIST"] for s in sources) - before,
        "unrecognized_keys": sum(len(p.unrecognized) for p in plans),
        "days": dg.MetadataValue.md(table),
    })


@dg.op(ins={"after": dg.In(dg.Nothing)}, out=dg.DynamicOut())
def access_logs_units(context: dg.OpExecutionContext, log_sources: LogSourcesResource):
    """One unit per source and day of the run: each ingests and commits on its own."""
    for day in _days(context):
        for source in log_sources.sources():
            yield dg.DynamicOutput((source.url, day), mapping_key=f"{source.id}_"
                                   f"{day:%Y_%m_%d}")


@dg.op
def access_logs_unit(context: dg.OpExecutionContext, unit: tuple, log_sources: LogSourcesResource,
                     lake: LakeResource) -> Any:
    """Fetch, parse and commit one source's day (it writes only what the unit owns)."""
    url, day = unit
    source = next(s for s in log_sources.sources() if s.url == url)
    outcome = ingest_unit(source, lake.lake(), day, progress=False)
    if outcome.report.error:  # the other units go on; the rebuild step fails the run
        context.log.error(f"{url} {day}: {outcome.report.error}")
    context.log.info(f"{url} {day}: {outcome.report.objects_ingested:,} objects ingested, "
                     f"{outcome.report.lines_read:,} lines")
    return outcome


CHECK_OUTPUTS = [spec.get_python_identifier() for spec in CHECKS]


@dg.op(out=dg.DynamicOut())
def access_logs_folders(context: dg.OpExecutionContext, outcomes: list[UnitOutcome],
                        lake: LakeResource):
    """The lake folders the units changed or feed, in groups of about the same staged
    bytes (at most the lake resource's `rebuild_steps`), one step each. Always one
    group, empty if need be, so the run's checks run even when nothing changed."""
    lk = lake.lake()
    migrate(lk)  # once, before any folder is rebuilt
    for i, group in enumerate(folder_groups(lk, outcomes, lake.rebuild_steps)):
        context.log.info(f"rebuild group {i}: {len(group.targets):,} folders")
        yield dg.DynamicOutput(group, mapping_key=f"group_{i}")


@dg.op
def access_logs_folder(context: dg.OpExecutionContext, group: FolderGroup,
                       lake: LakeResource) -> FoldersRebuilt:
    """Rebuild one group of the run's folders, deduplicated, in bounded memory."""
    rebuilt = rebuild_folders(lake.lake(), group)
    for target, c in sorted(rebuilt.compactions.items()):
        if c.written:
            context.log.info(f"rebuilt {target.path}: {c.rows:,} rows, {c.reason}")
    return rebuilt


@dg.op(out={"result": dg.Out(dg.Nothing), **{name: dg.Out() for name in CHECK_OUTPUTS}})
def access_logs_rebuild(context: dg.OpExecutionContext, folders: list, outcomes: list,
                        lake: LakeResource, log_sources: LogSourcesResource):
    """Finish the run once its folders are rebuilt (re-ingesting a unit whose committed
    staging was found missing or damaged), check it, and report it."""
    lk, days = lake.lake(), _days(context)
    report = finish_rebuild(lk, outcomes, folders, time.perf_counter(),
                            log_sources.sources())
    for s in report.staging:
        (context.log.info if s.repaired else context.log.error)(s.sentence)
    keep = lake.retention_days
    if keep:  # the lake's own retention (LakeResource.retention_days)
        pruned = retention.prune_lake(lk, keep, max(days))
        context.log.info(f"lake retention: removed {len(pruned):,} files older than {keep} days")
    context.log.info(f"ingested {report.total('objects_ingested'):,} objects, "
                     f"{report.total('lines_read'):,} lines; rebuilt {len(report.rebuilt):,} "
                     "folders")
    checked = checks.ingestion(report, lk, days)
    yield dg.Output(None, "result", metadata=_metadata(report, checked.preview, lk))
    for c in checked.results:
        yield dagster_checks.result(c, asset="access_logs")
    failed = [f"{d.source} {d.day}" for d in report.days if d.error]
    if failed:  # what the other units committed is rebuilt and kept
        raise dg.Failure(f"{len(failed)} of {len(report.days)} source days could not be "
                         f"ingested (first: {failed[0]}; see the objects_read check): "
                         "fix the cause and run the partitions again")


@dg.graph_asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, group_name="ingest",
                ins={"log_objects": dg.AssetIn(dagster_type=dg.Nothing)}, check_specs=CHECKS,
                kinds={"parquet"})
def access_logs(log_objects):
    """Parsed access log records in the lake, partitioned by event date and source bucket.
    Each source's day is a unit of its own step: the steps run at once (the multiprocess
    executor here, one pod each under the Kubernetes executor), each committing only what
    it owns. The partitions they changed are rebuilt, deduplicated, by steps of their own
    (groups of folders of about the same size), and a last step checks the run."""
    outcomes = access_logs_units(after=log_objects).map(access_logs_unit).collect()
    folders = access_logs_folders(outcomes).map(access_logs_folder).collect()
    outputs = access_logs_rebuild(folders, outcomes)
    return {"result": outputs.result, **{n: getattr(outputs, n) for n in CHECK_OUTPUTS}}


def _metadata(report: RunReport, records, lk) -> dict:
    lines, rows = report.total("lines_read"), report.total("rows_parsed")
    preview = "(no records)"
    if records is not None and records.num_rows:
        preview = dagster_checks.markdown(records)
    return {
        "dagster/row_count": rows,
        "objects_ingested": report.total("objects_ingested"),
        "bytes_fetched": report.total("bytes_fetched"),
        "get_requests": report.requests["GET"],
        "lines_read": lines,
        "rows_quarantined": report.total("rows_quarantined"),
        "parse_rate": dg.MetadataValue.float(rows / lines if lines else 1.0),
        "duplicates_dropped": report.duplicates_dropped,
        "partitions_rewritten": report.partitions_rewritten,
        "files_rewritten": report.files_rewritten,
        "staging_repaired": sum(s.repaired for s in report.staging),
        "buckets": dg.MetadataValue.json(report.buckets),
        "preview": dg.MetadataValue.md(preview),
        "lake": dg.MetadataValue.path(lk.loc.display(lk.path("access_logs"))),
    }
