"""Data checks, as plain functions returning results: the rules both front ends enforce.

The Dagster assets turn each `CheckResult` into an asset check result (blocking ones stop
what is downstream); `s3logs ingest` and `s3logs models run` print them and exit non-zero
when an error-level check fails. Audits return the offending rows, as SQLMesh's do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from .catalog import Model
from .lake import Lake

PARSE_RATE_WARN, PARSE_RATE_FAIL = 0.999, 0.99
ERROR, WARN = "error", "warn"


@dataclass(frozen=True)
class CheckSpec:
    name: str
    description: str
    blocking: bool = True     # a failure stops what is downstream (Dagster)


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    severity: str             # ERROR or WARN: how much a failure matters
    summary: str              # one line, for a terminal
    metadata: dict = field(default_factory=dict)
    offending: pa.Table | None = None   # the rows that break the rule, if it is an audit

    @property
    def failed_error(self) -> bool:
        return not self.passed and self.severity == ERROR


INGEST_CHECKS = (
    CheckSpec("parse_rate", f"At least {PARSE_RATE_WARN:.1%} of lines parse (warns below; "
                            f"fails below {PARSE_RATE_FAIL:.0%})."),
    CheckSpec("lines_reconcile", "Lines read = rows + rows quarantined, per day and in every "
                                 "manifest."),
    CheckSpec("listing_in_manifest", "Every listed log object of the day is in its manifest."),
    CheckSpec("unknown_trailing_fields", "Warns when records carry fields beyond the 27 known "
                                         "ones (AWS added a field: extend "
                                         "pipelines/logformat.py).", blocking=False),
    CheckSpec("unique_record_ids", "No record_id twice within a (dt, bucket) partition."),
)
LAKE_CHECK_COLUMNS = ["dt", "bucket", "record_id", "extra_fields", "request_time", "operation",
                      "key", "http_status", "requester"]


def lake_rows(lake: Lake, dts: Sequence[str]) -> pa.Table | None:
    """The columns the checks and previews need, for the given days of the lake."""
    try:
        dataset = lake.dataset()
    except FileNotFoundError:
        return None
    return dataset.to_table(filter=ds.field("dt").isin(list(dts)), columns=LAKE_CHECK_COLUMNS)


def ingestion(report, lake: Lake, records: pa.Table | None) -> list[CheckResult]:
    """The five checks of an ingestion run (`report`: its RunReport), over the lake rows
    of the days it touched."""
    return [_parse_rate(report), _reconcile(report, lake), _listing(report, lake),
            *_record_checks(records)]


def _parse_rate(report) -> CheckResult:
    lines, rows = report.total("lines_read"), report.total("rows_parsed")
    rate = rows / lines if lines else 1.0
    return CheckResult("parse_rate", rate >= PARSE_RATE_WARN,
                       ERROR if rate < PARSE_RATE_FAIL else WARN,
                       f"{rate:.3%} of {lines:,} lines parsed",
                       {"parse_rate": rate, "lines": lines, "rows": rows})


def _reconcile(report, lake: Lake) -> CheckResult:
    unbalanced = [d.day for d in report.days
                  if d.lines_read != d.rows_parsed + d.rows_quarantined]
    for p in report.plans:
        manifest = lake.read_manifest(p.source_id, p.day)
        if manifest and not manifest.balanced:
            unbalanced.append(f"manifest {p.day}")
    return CheckResult("lines_reconcile", not unbalanced, ERROR,
                       "lines read = rows + quarantined" if not unbalanced else
                       f"unbalanced: {', '.join(unbalanced[:5])}", {"unbalanced": unbalanced})


def _listing(report, lake: Lake) -> CheckResult:
    vanished = {url for d in report.days for url in d.objects_vanished}
    missing = []
    for p in report.plans:
        manifest = lake.read_manifest(p.source_id, p.day)
        known = manifest.objects if manifest else {}
        missing += [o.url for o in p.listed if o.url not in known and o.url not in vanished]
    return CheckResult("listing_in_manifest", not missing, ERROR,
                       f"{len(missing):,} listed objects missing from their manifest",
                       {"missing": len(missing), "examples": missing[:10]})


def _record_checks(records: pa.Table | None) -> list[CheckResult]:
    extra = dupes = 0
    partitions: list[str] = []
    if records is not None and records.num_rows:
        extra = pc.sum(pc.greater(pc.list_value_length(records["extra_fields"]), 0)).as_py()
        counts = records.group_by(["dt", "bucket"]).aggregate(
            [("record_id", "count"), ("record_id", "count_distinct")])
        for r in counts.to_pylist():
            if r["record_id_count"] != r["record_id_count_distinct"]:
                dupes += r["record_id_count"] - r["record_id_count_distinct"]
                partitions.append(f"dt={r['dt']}/bucket={r['bucket']}")
    return [
        CheckResult("unknown_trailing_fields", not extra, WARN,
                    f"{extra:,} records with fields beyond the 27 known ones",
                    {"records_with_extra_fields": extra}),
        CheckResult("unique_record_ids", not dupes, ERROR,
                    f"{dupes:,} duplicate record ids", {"duplicates": dupes,
                                                        "partitions": partitions}),
    ]


def grain_spec(model: Model) -> CheckSpec:
    nulls = [c for c in model.grain if c not in model.nullable]
    return CheckSpec("grain", f"One row per ({', '.join(model.grain)}); no null in "
                              f"{', '.join(nulls)}.")


def grain(model: Model, table: pa.Table) -> CheckResult:
    """The grain audit: the rows whose grain key repeats, or has a null where the header
    does not allow one. Nullable grain columns compare nulls as equal values."""
    key = list(model.grain)
    counted = table.select(key).group_by(key, use_threads=False).aggregate(
        [([], "count_all")]).rename_columns([*key, "rows"])
    repeated = counted.filter(pc.greater(counted["rows"], 1))
    null_mask = pa.array([False] * table.num_rows, pa.bool_())
    for c in key:
        if c not in model.nullable:
            null_mask = pc.or_(null_mask, pc.is_null(table[c]))
    nulls = table.select(key).filter(null_mask)
    offending = pa.concat_tables([
        repeated.append_column("problem", pa.array(["repeated"] * repeated.num_rows)),
        nulls.append_column("rows", pa.array([1] * nulls.num_rows, pa.int64()))
             .append_column("problem", pa.array(["null in the grain"] * nulls.num_rows)),
    ], promote_options="permissive")
    bad = offending.num_rows
    return CheckResult("grain", not bad, ERROR,
                       f"{model.name}: {table.num_rows:,} rows, one per grain key" if not bad
                       else f"{model.name}: {bad:,} grain keys break the grain "
                            f"({', '.join(key)})",
                       {"rows": table.num_rows, "offending": bad}, offending)
