"""Data checks, as plain functions returning results: the rules both front ends enforce.

The Dagster assets turn each `CheckResult` into an asset check result (blocking ones stop
what is downstream); `s3logs ingest` and `s3logs models run` print them and exit non-zero
when an error-level check fails. Audits return the offending rows, as SQLMesh's do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from pipelines.ingestion.units import current
from pipelines.lake.store import Lake
from pipelines.sql.catalog import Model

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
                                         "pipelines/parsing/logformat.py).", blocking=False),
    CheckSpec("unique_record_ids", "No record_id twice within a (dt, bucket) partition."),
    CheckSpec("objects_read", "Every listed log object was read: fails when one, or a "
                              "whole source's day, could not be (the next run tries again), "
                              "warns when the store refused one for good (it is quarantined "
                              "as an object).", blocking=False),
    CheckSpec("staging_complete", "Every committed staging file the run's rebuild met is "
                                  "present and intact (the size and rows its manifest "
                                  "recorded); a missing or damaged one is written again from "
                                  "its unit's log objects, and the check fails, naming the "
                                  "file and what to do, when they are gone."),
)
PREVIEW_COLUMNS = ["request_time", "bucket", "operation", "key", "http_status", "requester"]
PREVIEW_ROWS = 5


@dataclass(frozen=True)
class IngestionChecks:
    results: list[CheckResult]
    preview: pa.Table | None     # a few records of the days touched, for the run's metadata


def ingestion(report, lake: Lake, days: Sequence[date]) -> IngestionChecks:
    """The checks of an ingestion run (`report`: its RunReport), over the lake rows of
    the days it was asked for, the days its late records reached and those it rebuilt."""
    rebuilt = {r.folder.split("/")[1].removeprefix("dt=") for r in report.rebuilt
               if r.folder.startswith("access_logs/")}
    dts = sorted({d.isoformat() for d in days} | {p.dt for p in report.partitions} | rebuilt)
    records = RecordCounts.of(lake, dts)
    manifests = ManifestFindings.of(lake, report)
    return IngestionChecks([_parse_rate(report), _reconcile(report, manifests),
                            _listing(manifests), *records.results(),
                            _objects_read(report), _staging_complete(report)], records.preview)


@dataclass
class ManifestFindings:
    """What the checks need of the run's manifests, read one at a time: a manifest holds
    an entry per log object, and a run of many days would otherwise hold them all."""
    unbalanced: list[str] = field(default_factory=list)  # "manifest DAY"
    missing: list[str] = field(default_factory=list)     # listed, in no manifest

    @classmethod
    def of(cls, lake: Lake, report) -> ManifestFindings:
        found = cls()
        vanished = {url for d in report.days for url in d.objects_vanished}
        vanished |= {f.split(": ", 1)[0] for d in report.days for f in d.objects_failed}
        for p in report.plans:
            manifest = current(lake, p.unit)
            if manifest is not None and not manifest.balanced:
                found.unbalanced.append(f"manifest {p.day}")
            known = manifest.objects if manifest else {}
            found.missing += [o.url for o in p.listed
                              if o.url not in known and o.url not in vanished]
        return found


@dataclass
class RecordCounts:
    """What the record checks need, gathered one (dt, bucket) partition at a time: a
    day of a busy bucket is the most that is ever in memory, never the run's days."""
    extra: int = 0
    duplicates: int = 0
    partitions: list[str] = field(default_factory=list)
    preview: pa.Table | None = None

    @classmethod
    def of(cls, lake: Lake, dts: Sequence[str]) -> RecordCounts:
        counts = cls()
        try:
            dataset = lake.dataset()
        except FileNotFoundError:
            return counts
        by_partition: dict[tuple[str, str], list] = {}
        for fragment in dataset.get_fragments(filter=ds.field("dt").isin(list(dts))):
            keys = ds.get_partition_keys(fragment.partition_expression)
            by_partition.setdefault((keys["dt"], keys["bucket"]), []).append(fragment)
        for (dt, bucket), fragments in sorted(by_partition.items()):
            part = ds.FileSystemDataset(fragments, dataset.schema, dataset.format,
                                        dataset.filesystem)
            counts.add(f"dt={dt}/bucket={bucket}",
                       part.to_table(columns=["record_id", "extra_fields"]))
            if counts.preview is None:
                counts.preview = part.head(PREVIEW_ROWS, columns=PREVIEW_COLUMNS)
        return counts

    def add(self, partition: str, rows: pa.Table) -> None:
        self.extra += pc.sum(pc.greater(pc.list_value_length(rows["extra_fields"]), 0)
                             ).as_py() or 0
        repeated = rows.num_rows - pc.count_distinct(rows["record_id"]).as_py()
        if repeated:
            self.duplicates += repeated
            self.partitions.append(partition)

    def results(self) -> list[CheckResult]:
        return [
            CheckResult("unknown_trailing_fields", not self.extra, WARN,
                        f"{self.extra:,} records with fields beyond the 27 known ones",
                        {"records_with_extra_fields": self.extra}),
            CheckResult("unique_record_ids", not self.duplicates, ERROR,
                        f"{self.duplicates:,} duplicate record ids",
                        {"duplicates": self.duplicates, "partitions": self.partitions}),
        ]


def _parse_rate(report) -> CheckResult:
    lines, rows = report.total("lines_read"), report.total("rows_parsed")
    rate = rows / lines if lines else 1.0
    return CheckResult("parse_rate", rate >= PARSE_RATE_WARN,
                       ERROR if rate < PARSE_RATE_FAIL else WARN,
                       f"{rate:.3%} of {lines:,} lines parsed",
                       {"parse_rate": rate, "lines": lines, "rows": rows})


def _reconcile(report, manifests: ManifestFindings) -> CheckResult:
    unbalanced = [d.day for d in report.days
                  if d.lines_read != d.rows_parsed + d.rows_quarantined]
    unbalanced += manifests.unbalanced
    return CheckResult("lines_reconcile", not unbalanced, ERROR,
                       "lines read = rows + quarantined" if not unbalanced else
                       f"unbalanced: {', '.join(unbalanced[:5])}", {"unbalanced": unbalanced})


def _listing(manifests: ManifestFindings) -> CheckResult:
    missing = manifests.missing
    return CheckResult("listing_in_manifest", not missing, ERROR,
                       f"{len(missing):,} listed objects missing from their manifest",
                       {"missing": len(missing), "examples": missing[:10]})


def _objects_read(report) -> CheckResult:
    failed = [f"{d.source} {d.day}: {d.error}" for d in report.days if d.error]
    failed += [f for d in report.days for f in d.objects_failed]
    refused = [f for d in report.days for f in d.objects_refused]
    summary = "every listed object was read" if not failed + refused else "; ".join(
        ([f"{len(failed)} could not be read, retried next run: {failed[0]}"] if failed else [])
        + ([f"{len(refused)} refused, quarantined: {refused[0]}"] if refused else []))
    return CheckResult("objects_read", not failed + refused, ERROR if failed else WARN,
                       summary, {"failed": failed[:20], "refused": refused[:20]})


def _staging_complete(report) -> CheckResult:
    """Fails while a committed staging file stays missing or damaged: the rows it held
    are in no input of the lake any more (the folder readers see is left as it was)."""
    damaged = [s for s in report.staging if not s.repaired]
    repaired = [s for s in report.staging if s.repaired]
    if damaged:
        summary = (f"{len(damaged)} staging file(s) missing or damaged: {damaged[0].sentence}"
                   if len(damaged) > 1 else damaged[0].sentence)
    elif repaired:
        summary = (f"{len(repaired)} staging file(s) were missing or damaged and were "
                   f"written again from their log objects: {repaired[0].sentence}")
    else:
        summary = "every committed staging file the rebuild met is present and intact"
    return CheckResult("staging_complete", not damaged, ERROR, summary,
                       {"damaged": [s.sentence for s in damaged][:20],
                        "repaired": [s.sentence for s in repaired][:20]})


def sort_by_grain(table: pa.Table, model: Model) -> pa.Table:
    """Rows in grain order (nulls first): what makes a model's files a pure function of
    its result, and puts repeated grain keys next to each other."""
    if not model.grain or not table.num_rows:
        return table
    return table.sort_by([(c, "ascending", "at_start") for c in model.grain])


def grain_spec(model: Model) -> CheckSpec:
    nulls = [c for c in model.grain if c not in model.nullable]
    return CheckSpec("grain", f"One row per ({', '.join(model.grain)}); no null in "
                              f"{', '.join(nulls)}.")


def grain_of_spans(model: Model, audits: list[CheckResult]) -> CheckResult:
    """The grain audits of spans of days run apart, as one: the grain holds dt, so spans
    never share a key, and the result passes only if every span's did."""
    rows = sum(a.metadata.get("rows", 0) for a in audits)
    bad = [a for a in audits if not a.passed]
    if not bad:
        return CheckResult("grain", True, ERROR, f"{model.name}: {rows:,} rows, one per grain "
                           "key", {"rows": rows, "offending": 0, "spans": len(audits)})
    offending = pa.concat_tables([a.offending for a in bad if a.offending is not None])
    count = sum(a.metadata.get("offending", 0) for a in bad)
    return CheckResult("grain", False, ERROR, f"{model.name}: {count:,} rows break the grain "
                       f"({', '.join(model.grain)}) in {len(bad)} of {len(audits)} spans",
                       {"rows": rows, "offending": count, "spans": len(audits)}, offending)


def grain(model: Model, table: pa.Table) -> CheckResult:
    """The grain audit: the rows whose grain key another row has too, or that have a null
    where the header does not allow one (nullable grain columns compare nulls as equal
    values). Offending rows come back whole, with what is wrong with each."""
    rows = sort_by_grain(table, model)
    n = rows.num_rows
    same_as_previous = np.zeros(n, dtype=bool)
    if n > 1:
        same = np.ones(n - 1, dtype=bool)
        for c in model.grain:
            a, b = rows[c].slice(1), rows[c].slice(0, n - 1)
            if pa.types.is_null(a.type):  # all null: equal as values
                continue
            equal = pc.fill_null(pc.equal(a, b), False)
            both_null = pc.and_(pc.is_null(a), pc.is_null(b))
            same &= pc.or_(equal, both_null).to_numpy(zero_copy_only=False)
        same_as_previous[1:] = same
    repeated = same_as_previous.copy()
    repeated[:-1] |= same_as_previous[1:]
    nulls = np.zeros(n, dtype=bool)
    for c in model.grain:
        if c not in model.nullable:
            nulls |= pc.is_null(rows[c]).to_numpy(zero_copy_only=False)
    bad = repeated | nulls
    problem = np.where(repeated & nulls, "repeated grain key, null in the grain",
                       np.where(repeated, "repeated grain key", "null in the grain"))
    offending = rows.filter(pa.array(bad)).append_column(
        "problem", pa.array(problem[bad].tolist(), pa.string()))
    count = int(bad.sum())
    return CheckResult("grain", not count, ERROR,
                       f"{model.name}: {n:,} rows, one per grain key" if not count
                       else f"{model.name}: {count:,} rows break the grain "
                            f"({', '.join(model.grain)})",
                       {"rows": n, "offending": count}, offending)
