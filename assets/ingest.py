"""Ingestion assets: the day's log objects (listing), then the lake records of the day."""


from datetime import date

import dagster as dg
import pyarrow.compute as pc
import pyarrow.dataset as ds

from assets.partitions import DAILY, SINGLE_RUN
from assets.resources import LakeResource, LogSourcesResource
from pipelines import retention
from pipelines.config import settings
from pipelines.ingest import DayPlan, RunReport, ingest, plan
from pipelines.sources import source_id

PARSE_RATE_WARN, PARSE_RATE_FAIL = 0.999, 0.99
CHECKS = [
    dg.AssetCheckSpec("parse_rate", asset="access_logs", blocking=True,
                      description=f"At least {PARSE_RATE_WARN:.1%} of lines parse (warns "
                                  f"below; fails below {PARSE_RATE_FAIL:.0%})."),
    dg.AssetCheckSpec("lines_reconcile", asset="access_logs", blocking=True,
                      description="Lines read = rows + rows quarantined, per day and in "
                                  "every manifest."),
    dg.AssetCheckSpec("listing_in_manifest", asset="access_logs", blocking=True,
                      description="Every listed log object of the day is in its manifest."),
    dg.AssetCheckSpec("unknown_trailing_fields", asset="access_logs",
                      description="Warns when records carry fields beyond the 27 known ones "
                                  "(AWS added a field: extend pipelines/logformat.py)."),
    dg.AssetCheckSpec("unique_record_ids", asset="access_logs", blocking=True,
                      description="No record_id twice within a (dt, bucket) partition."),
]


def _days(context: dg.AssetExecutionContext) -> list[date]:
    return [date.fromisoformat(k) for k in context.partition_keys]


@dg.asset(partitions_def=DAILY, backfill_policy=SINGLE_RUN, group_name="ingest", pool="lake",
          kinds={"s3", "json"})
def log_objects(context: dg.AssetExecutionContext, log_sources: LogSourcesResource,
                lake: LakeResource) -> dg.MaterializeResult:
    """The log objects filed under each day, per source, and which are new or changed
    since the day's manifest. Listing costs LIST requests in proportion to the day's
    objects; the plan is saved in the lake for `access_logs`."""
    sources, lk = log_sources.sources(), lake.lake()
    before = sum(s.counts["LIST"] for s in sources)
    plans = plan(sources, lk, _days(context))
    for p in plans:
        lk.write_json(lk.plan_path(source_id(p.source), p.day), p.as_dict())
    rows = [(p.day, p.source, len(p.listed), len(p.todo), sum(o.size for o in p.todo),
             len(p.unrecognized)) for p in plans]
    table = "| day | source | listed | new or changed | bytes to fetch | not log keys |\n" \
            "|---|---|---:|---:|---:|---:|\n" + "\n".join(
                f"| {d} | {s} | {n:,} | {t:,} | {b:,} | {u} |" for d, s, n, t, b, u in rows)
    return dg.MaterializeResult(metadata={
        "objects_listed": sum(r[2] for r in rows),
        "objects_new_or_changed": sum(r[3] for r in rows),
        "bytes_to_fetch": sum(r[4] for r in rows),
        "list_requests": sum(s.counts["LIST"] for s in sources) - before,
        "unrecognized_keys": sum(r[5] for r in rows),
        "days": dg.MetadataValue.md(table),
        "plans": dg.MetadataValue.path(lk.loc.display(lk.path("_plans"))),
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
    plans = []
    for day in days:
        for s in sources:
            saved = lk.read_json(lk.plan_path(s.id, day.isoformat()))
            plans += [DayPlan.from_dict(saved)] if saved else plan([s], lk, [day])
    report = ingest(sources, lk, plans=plans, progress=False)
    keep = settings().lake_retention_days
    if keep:  # the lake's own retention (S3LOGS_LAKE_RETENTION_DAYS)
        pruned = retention.prune_lake(lk, keep, max(days))
        context.log.info(f"lake retention: removed {len(pruned):,} files older than {keep} days")
    context.log.info(f"ingested {report.total('objects_ingested'):,} objects, "
                     f"{report.total('lines_read'):,} lines in {report.seconds:.1f}s")
    dts = sorted({d.isoformat() for d in days} |
                 {p.split("/")[0][3:] for d in report.days for p in d.partitions})
    records = _lake_rows(lk, dts)
    return dg.MaterializeResult(metadata=_metadata(report, records, lk),
                                check_results=_checks(report, plans, lk, records))


def _lake_rows(lk, dts: list[str]):
    try:
        dataset = lk.dataset()
    except FileNotFoundError:
        return None
    return dataset.to_table(filter=ds.field("dt").isin(dts),
                            columns=["dt", "bucket", "record_id", "extra_fields",
                                     "request_time", "operation", "key", "http_status",
                                     "requester"])


def _metadata(report: RunReport, records, lk) -> dict:
    lines, rows = report.total("lines_read"), report.total("rows_parsed")
    preview = "(no records)"
    if records is not None and records.num_rows:
        sample = records.slice(0, 5).select(["request_time", "bucket", "operation", "key",
                                             "http_status", "requester"]).to_pylist()
        preview = "| time | bucket | operation | key | status | requester |\n" \
                  "|---|---|---|---|---:|---|\n" + "\n".join(
                      f"| {r['request_time']:%Y-%m-%d %H:%M:%S} | {r['bucket']} | "
                      f"{r['operation']} | {r['key']} | {r['http_status']} | "
                      f"{r['requester']} |" for r in sample)
    return {
        "dagster/row_count": rows,
        "objects_ingested": report.total("objects_ingested"),
        "bytes_fetched": report.total("bytes_fetched"),
        "get_requests": report.requests["GET"],
        "lines_read": lines,
        "rows_quarantined": report.total("rows_quarantined"),
        "parse_rate": dg.MetadataValue.float(rows / lines if lines else 1.0),
        "duplicates_dropped": report.duplicates_dropped,
        "partitions_rewritten": len({p for d in report.days for p in d.partitions}),
        "buckets": dg.MetadataValue.json(report.buckets),
        "preview": dg.MetadataValue.md(preview),
        "lake": dg.MetadataValue.path(lk.loc.display(lk.path("access_logs"))),
    }


def _checks(report: RunReport, plans: list[DayPlan], lk, records) -> list[dg.AssetCheckResult]:
    lines, rows = report.total("lines_read"), report.total("rows_parsed")
    rate = rows / lines if lines else 1.0
    rate_severity = dg.AssetCheckSeverity.ERROR if rate < PARSE_RATE_FAIL else \
        dg.AssetCheckSeverity.WARN
    unbalanced = [d.day for d in report.days
                  if d.lines_read != d.rows_parsed + d.rows_quarantined]
    missing = []
    vanished = {url for d in report.days for url in d.objects_vanished}
    for p in plans:
        manifest = lk.read_manifest(source_id(p.source), p.day) or {"objects": {}}
        t = manifest.get("totals")
        if t and t["lines"] != t["records"] + t["rejects"]:
            unbalanced.append(f"manifest {p.day}")
        missing += [o.url for o in p.listed
                    if o.url not in manifest["objects"] and o.url not in vanished]
    extra = dupes = 0
    dupe_partitions: list[str] = []
    if records is not None and records.num_rows:
        extra = pc.sum(pc.greater(pc.list_value_length(records["extra_fields"]), 0)).as_py()
        counts = records.group_by(["dt", "bucket"]).aggregate(
            [("record_id", "count"), ("record_id", "count_distinct")])
        for r in counts.to_pylist():
            if r["record_id_count"] != r["record_id_count_distinct"]:
                dupes += r["record_id_count"] - r["record_id_count_distinct"]
                dupe_partitions.append(f"dt={r['dt']}/bucket={r['bucket']}")
    return [
        dg.AssetCheckResult(check_name="parse_rate", passed=rate >= PARSE_RATE_WARN,
                            severity=rate_severity,
                            metadata={"parse_rate": rate, "lines": lines, "rows": rows}),
        dg.AssetCheckResult(check_name="lines_reconcile", passed=not unbalanced,
                            metadata={"unbalanced": dg.MetadataValue.json(unbalanced)}),
        dg.AssetCheckResult(check_name="listing_in_manifest", passed=not missing,
                            metadata={"missing": len(missing),
                                      "examples": dg.MetadataValue.json(missing[:10])}),
        dg.AssetCheckResult(check_name="unknown_trailing_fields", passed=not extra,
                            severity=dg.AssetCheckSeverity.WARN,
                            metadata={"records_with_extra_fields": extra}),
        dg.AssetCheckResult(check_name="unique_record_ids", passed=not dupes,
                            metadata={"duplicates": dupes,
                                      "partitions": dg.MetadataValue.json(dupe_partitions)}),
    ]
