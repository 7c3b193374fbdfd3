"""The rows a unit's commit writes (pipelines.ingestion.ingest): those it collects now, its
new and changed log objects fetched, parsed and routed by event day and bucket into the
spill, and those it keeps of its committed staging files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather

from pipelines.ingestion.fetch import describe, fetch, refused
from pipelines.ingestion.planning import DayPlan
from pipelines.ingestion.progress import Progress, SharedProgress
from pipelines.ingestion.results import DayReport
from pipelines.ingestion.sources import LogSource, ObjectInfo
from pipelines.ingestion.units import (
    StagingDamaged,
    StagingProblem,
    current,
    staged_rows,
    staging_path,
)
from pipelines.lake.manifest import Manifest, ManifestEntry, PartitionKey, Target, Unit
from pipelines.lake.spill import Spill
from pipelines.lake.store import LAKE_SCHEMA, Lake
from pipelines.parsing.logformat import REJECT_SCHEMA
from pipelines.parsing.parse import parse_objects


@dataclass
class Work:
    """What fetching and parsing one source's day produced (`collect`), until the
    unit's commit (pipelines.ingestion.ingest) writes it."""

    source: LogSource
    unit: Unit
    report: DayReport
    entries: dict[str, ManifestEntry] = field(default_factory=dict)  # ingested now, by URL
    abandoned: set[str] = field(default_factory=set)  # failed half-read: rows in the spill
    repair: set[Target] = field(default_factory=set)  # damaged staging: written, not read


def collect(source: LogSource, day_plan: DayPlan, spill: Spill, progress: bool,
            fetch_attempts: int, shared: SharedProgress | None = None) -> Work:
    """Fetch and parse what the plan says is new or changed into the spill: the first
    half of ingesting a unit, whose commit (pipelines.ingestion.ingest) writes it."""
    work = Work(source, day_plan.unit, DayReport(source.url, day_plan.day))
    report = work.report
    report.objects_listed = len(day_plan.listed)
    report.objects_unchanged = day_plan.unchanged
    report.unrecognized_keys = day_plan.unrecognized
    report.skipped = day_plan.skipped
    todo = day_plan.todo
    if not todo:
        return work
    if shared is not None:
        bar = shared
        bar.expect(sum(o.size for o in todo))
    else:
        bar = Progress(f"ingest {source.url} {day_plan.day}",
                       total=sum(o.size for o in todo), unit="B", enabled=progress)
    for batch in fetch(source.loc, todo, attempts=fetch_attempts):
        report.objects_vanished += [o.url for o in batch.vanished]
        report.objects_failed += [f"{o.url}: {why}" for o, why in batch.failed]
        for o, why in batch.refused:
            _refuse(work, spill, o, why)
        bodies = [(o, body) for o, body in batch.objects]
        for o, _ in bodies:
            work.entries[o.url] = ManifestEntry(o.size, o.etag, o.last_modified)
        _parse(work, spill, [(o.url, body) for o, body in bodies])
        report.bytes_fetched += sum(len(b) for _, b in bodies)
        bar.advance(sum(o.size for o, _ in bodies))
        for o in batch.streams:  # large objects, read as they are parsed
            work.entries[o.url] = ManifestEntry(o.size, o.etag, o.last_modified)
            try:
                source.loc.count_local("GET")
                with source.loc.fs.open(o.path, "rb") as stream:
                    _parse(work, spill, [(o.url, stream)])
                report.bytes_fetched += o.size
            except OSError as e:  # its rows so far are dropped at commit with it
                del work.entries[o.url]
                work.abandoned.add(o.url)
                if isinstance(e, FileNotFoundError):
                    report.objects_vanished.append(o.url)
                elif refused(e):  # asked for at open, before any row
                    _refuse(work, spill, o, describe(e))
                else:
                    report.objects_failed.append(f"{o.url}: {describe(e)}")
            bar.advance(o.size)
        batch = bodies = None  # let go before the next batch is read, not after
    if bar is not shared:
        bar.done()
    for e in work.entries.values():
        e.lines = e.records + e.rejects
    report.objects_ingested = len(work.entries)
    report.rows_parsed = sum(e.records for e in work.entries.values())
    report.rows_quarantined = sum(e.rejects for e in work.entries.values())
    report.lines_read = report.rows_parsed + report.rows_quarantined
    return work


def _parse(work: Work, spill: Spill, objects: list) -> None:
    quarantine = Target.quarantine(work.unit)
    for result in parse_objects(objects):
        _route(work, spill, result.records)
        spill.add(work.unit, quarantine, result.rejects)
        for key, n in _count_by_key(result.rejects):
            work.entries[key].rejects += n


def _refuse(work: Work, spill: Spill, o: ObjectInfo, why: str) -> None:
    """An object the store refuses for good: quarantined as an object, so it is not asked
    for again until it changes (or --force)."""
    reason = f"the log object ({o.size:,} bytes) could not be read: {why}"
    work.entries[o.url] = ManifestEntry(o.size, o.etag, o.last_modified, rejects=1,
                                        problem=reason)
    work.report.objects_refused.append(f"{o.url}: {why}")
    spill.add(work.unit, Target.quarantine(work.unit), pa.table(
        {"source_key": [o.url], "line_number": [0], "raw_line": [b""], "reason": [reason]},
        schema=REJECT_SCHEMA))


_MICROS_PER_DAY = 86_400_000_000
_EPOCH_DAY = date(1970, 1, 1)


def _route(work: Work, spill: Spill, records: pa.Table) -> None:
    """Split parsed rows by (event date, source bucket) into the spill. Days are grouped
    as numbers and named once per group: formatting each row's date cost more than
    parsing it."""
    if not records.num_rows:
        return
    micros = records["request_time"].cast(pa.int64()).to_numpy()
    records = records.append_column("_day", pa.array(
        np.floor_divide(micros, _MICROS_PER_DAY).astype(np.int32)))
    groups = records.group_by(["_day", "bucket", "source_key"]).aggregate([("_day", "count")])
    for g in groups.to_pylist():
        entry = work.entries[g["source_key"]]
        entry.records += g["_day_count"]
        entry.partitions.add(PartitionKey(_day_name(g["_day"]), g["bucket"]))
    pairs = groups.select(["_day", "bucket"]).group_by(["_day", "bucket"]).aggregate(
        []).to_pylist()
    for pair in pairs:
        key = PartitionKey(_day_name(pair["_day"]), pair["bucket"])
        rows = records if len(pairs) == 1 else records.filter(pc.and_(
            pc.equal(records["_day"], pair["_day"]), pc.equal(records["bucket"], pair["bucket"])))
        spill.add(work.unit, Target.records(key), rows.select(LAKE_SCHEMA.names))


def _day_name(day: int) -> str:
    """`YYYY-MM-DD` of a day counted from 1970-01-01 (as Arrow's %Y-%m-%d writes it)."""
    return (_EPOCH_DAY + timedelta(days=day)).isoformat()


def _count_by_key(table: pa.Table) -> list[tuple[str, int]]:
    if not table.num_rows:
        return []
    rows = table.group_by("source_key").aggregate([("source_key", "count")]).to_pylist()
    return [(r["source_key"], r["source_key_count"]) for r in rows]


class Collected(Exception):
    """The version a commit built on lost a staging file to a newer commit's cleanup:
    raised by `kept_rows`, caught by the commit (pipelines.ingestion.ingest), which reads
    the unit's manifest again."""


def spilled_rows(spill: Spill, unit: Unit, target: Target) -> Iterator[pa.Table]:
    """The unit's parsed rows for `target` in the spill, one piece at a time: what the
    commit (pipelines.ingestion.ingest) stages after the `kept_rows`."""
    for path in spill.pieces.get((unit, target), []):
        yield feather.read_table(path, memory_map=False)


def kept_rows(lake: Lake, work: Work, base: Manifest | None, target: Target,
              scratch: str) -> Iterator[pa.Table]:
    """The unit's committed rows for `target` that this commit keeps, a few thousand at a
    time: those of the objects it did not ingest again (none where the file is being
    repaired: every object that fed it was). A file gone because a newer commit
    collected it is a race (Collected); gone while the version is still current, it is
    damage (StagingDamaged). The commit (pipelines.ingestion.ingest) stages them first."""
    if target in work.repair:
        return
    try:
        yield from staged_rows(lake, base, work.unit, target, without=set(work.entries),
                               scratch=scratch)
    except FileNotFoundError as e:
        now = current(lake, work.unit)
        if base is None or now is None or now.version != base.version:
            raise Collected from e
        path = staging_path(lake, target, work.unit, base.staging[target.path])
        raise StagingDamaged([StagingProblem(target, work.unit, lake.display(path),
                                             "is missing", base.source)]) from e
