"""Ingestion assets: the day's log objects (listing), then the lake records of the day."""


from datetime import date

import dagster as dg

from assets import checks as dagster_checks
from assets.partitions import DAILY, SINGLE_RUN
from assets.resources import LakeResource, LogSourcesResource
from pipelines import checks, retention
from pipelines.config import settings
from pipelines.ingest import RunReport, ingest, plan

CHECKS = [dagster_checks.spec(c, "access_logs") for c in checks.INGEST_CHECKS]


def _days(context: dg.AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(k) for k in context.partition_keys]


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, group_name="ingest", pool="lake",
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


@dg.asset(deps=[log_objects], partitions_def=DAILY, backfill_policy=SINGLE_RUN,
          group_name="ingest", pool="lake", check_specs=CHECKS, kinds={"parquet"})
def access_logs(context: dg.AssetExecutionContext, log_sources: LogSourcesResource,
                lake: LakeResource) -> dg.MaterializeResult:
    """Parsed access log records in the lake, partitioned by event date and source bucket:
    fetches what `log_objects` planned, parses, quarantines what does not parse, rewrites
    the touched partitions once, deduplicated."""
    sources, lk = log_sources.sources(), lake.lake()
    days = _days(context)
    report = ingest(sources, lk, days, progress=False)
    keep = settings().lake_retention_days
    if keep:  # the lake's own retention (S3LOGS_LAKE_RETENTION_DAYS)
        pruned = retention.prune_lake(lk, keep, max(days))
        context.log.info(f"lake retention: removed {len(pruned):,} files older than {keep} days")
    context.log.info(f"ingested {report.total('objects_ingested'):,} objects, "
                     f"{report.total('lines_read'):,} lines in {report.seconds:.1f}s")
    checked = checks.ingestion(report, lk, days)
    return dg.MaterializeResult(
        metadata=_metadata(report, checked.records, lk),
        check_results=[dagster_checks.result(c) for c in checked.results])


def _metadata(report: RunReport, records, lk) -> dict:
    lines, rows = report.total("lines_read"), report.total("rows_parsed")
    preview = "(no records)"
    if records is not None and records.num_rows:
        preview = dagster_checks.markdown(records.slice(0, 5).select(
            ["request_time", "bucket", "operation", "key", "http_status", "requester"]))
    return {
        "dagster/row_count": rows,
        "objects_ingested": report.total("objects_ingested"),
        "bytes_fetched": report.total("bytes_fetched"),
        "get_requests": report.requests["GET"],
        "lines_read": lines,
        "rows_quarantined": report.total("rows_quarantined"),
        "parse_rate": dg.MetadataValue.float(rows / lines if lines else 1.0),
        "duplicates_dropped": report.duplicates_dropped,
        "partitions_rewritten": len(report.partitions),
        "buckets": dg.MetadataValue.json(report.buckets),
        "preview": dg.MetadataValue.md(preview),
        "lake": dg.MetadataValue.path(lk.loc.display(lk.path("access_logs"))),
    }
