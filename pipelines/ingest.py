"""Ingest days of log objects from sources into the lake: incremental, idempotent,
late-aware, and safe however many runs go at once.

The unit of work is one source's day: the log objects filed under it. A run lists the
whole day (best-effort delivery keeps no order, so only a full listing finds every late
object; it costs a LIST per 1,000 objects), fetches what the unit's manifest lacks or
what changed (size, ETag), parses it, and commits each unit: staging files first, then a
new manifest version that is created only if no other run created it first
(pipelines.units). Then it rebuilds what readers see in every folder those units feed
(pipelines.compact), so a partition fed by runs of several days ends the same whatever
order, or overlap, they ran in. An object that cannot be read is named in the report and
tried again by the next run; one the store refuses for good is quarantined as an object;
the rest of the run goes on.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .compact import Compaction, compact
from .fetch import ATTEMPTS, describe, fetch, refused
from .lake import LAKE_SCHEMA, Lake
from .logformat import REJECT_SCHEMA
from .manifest import Manifest, ManifestEntry, PartitionKey, Target, Unit
from .parse import parse_objects
from .progress import Progress
from .sources import LogSource, ObjectInfo, source_id
from .spill import Spill
from .units import (
    CommitError,
    collect_garbage,
    commit,
    current,
    migrate,
    new_run_id,
    stage,
    staged_rows,
)

COMMIT_ATTEMPTS = 20


@dataclass
class DayReport:
    source: str
    day: str
    objects_listed: int = 0           # in the day's listing
    objects_ingested: int = 0         # new or changed, fetched and parsed this run
    objects_unchanged: int = 0        # in the manifest already, not fetched again
    objects_vanished: list[str] = field(default_factory=list)
    objects_failed: list[str] = field(default_factory=list)     # "url: why"; next run retries
    objects_refused: list[str] = field(default_factory=list)    # "url: why"; quarantined
    unrecognized_keys: list[str] = field(default_factory=list)
    bytes_fetched: int = 0
    lines_read: int = 0               # = rows_parsed + rows_quarantined
    rows_parsed: int = 0
    rows_quarantined: int = 0
    partitions: list[PartitionKey] = field(default_factory=list)   # rebuilt for this day
    files_written: list[str] = field(default_factory=list)
    error: str | None = None          # the unit failed as a whole: why (the run fails)


@dataclass
class DayPlan:
    """What one source's day needs: its listing, and the objects its manifest lacks or
    that changed since."""

    source: str
    day: str
    listed: list[ObjectInfo]
    todo: list[ObjectInfo]
    unchanged: int
    unrecognized: list[str]

    @property
    def source_id(self) -> str:
        return source_id(self.source)

    @property
    def unit(self) -> Unit:
        return Unit(self.source_id, self.day)


@dataclass
class RunReport:
    """What a run did: per source and day, and over all."""

    days: list[DayReport] = field(default_factory=list)
    plans: list[DayPlan] = field(default_factory=list)           # what the run set out to do
    run: str = ""
    requests: dict[str, int] = field(default_factory=dict)       # to the log sources
    lake_requests: dict[str, int] = field(default_factory=dict)  # to the lake
    duplicates_dropped: int = 0   # rows whose record_id another row of the partition has
    seconds: float = 0.0

    def total(self, name: str) -> int:
        return sum(len(v) if isinstance(v := getattr(d, name), list) else v for d in self.days)

    @property
    def partitions(self) -> list[PartitionKey]:
        return sorted({p for d in self.days for p in d.partitions})

    @property
    def buckets(self) -> list[str]:
        return sorted({p.bucket for p in self.partitions})

    def as_dict(self) -> dict:
        days = [{**asdict(d), "partitions": [p.path for p in d.partitions]} for d in self.days]
        return {"run": self.run, "days": days, "requests": self.requests,
                "lake_requests": self.lake_requests,
                "duplicates_dropped": self.duplicates_dropped, "seconds": round(self.seconds, 3)}


def plan(sources: Sequence[LogSource], lake: Lake, days: Iterable[date], *,
         force: bool = False) -> list[DayPlan]:
    """List every (source, day) in full and compare it with the unit's manifest."""
    plans = []
    for day in days:
        for source in sources:
            manifest = current(lake, Unit(source.id, day.isoformat()))
            known = manifest.objects if manifest else {}
            listing = source.list_day(day)
            todo = [o for o in listing.objects if force or o.url not in known
                    or known[o.url].fingerprint != o.fingerprint]
            plans.append(DayPlan(source.url, day.isoformat(), listing.objects, todo,
                                 len(listing.objects) - len(todo), listing.unrecognized))
    return plans


def trailing_days(today: date, n: int) -> list[date]:
    """The n days before `today`, oldest first: what the daily run re-checks for late logs."""
    return [today - timedelta(days=k) for k in range(n, 0, -1)]


def ingest(sources: Sequence[LogSource], lake: Lake, days: Iterable[date] = (), *,
           force: bool = False, progress: bool = True,
           fetch_attempts: int = ATTEMPTS) -> RunReport:
    """Ingest every (source, day), one unit after the other, then rebuild what they
    touched. `force` re-ingests unchanged objects too (the lake comes out byte-identical
    when nothing changed). Dagster runs the same two steps, the units concurrently."""
    started = time.perf_counter()
    lake.clean_temporary_files(lake.path())  # what writers killed mid-write left (local)
    outcomes = [ingest_unit(source, lake, day, force=force, progress=progress,
                            fetch_attempts=fetch_attempts)
                for day in days for source in sources]
    return rebuild(lake, outcomes, started)


@dataclass
class UnitOutcome:
    """What ingesting one source's day did: its plan, report, and the lake folders whose
    rows it changed (to rebuild), with the requests it made."""

    plan: DayPlan
    report: DayReport
    touched: set[Target]      # its commit changed their rows
    verify: set[Target]       # unchanged now, checked in case a killed run left them stale
    requests: dict[str, int]
    lake_requests: dict[str, int]


def ingest_unit(source: LogSource, lake: Lake, day: date, *, force: bool = False,
                progress: bool = True, fetch_attempts: int = ATTEMPTS) -> UnitOutcome:
    """List, fetch, parse and commit one source's day: it writes only what the unit owns
    (its staging files and manifest), so any number of them can run at once, anywhere.
    A unit that fails says why in its report (`error`); the other units go on."""
    before = source.counts.as_dict(), lake.counts.as_dict()
    day_plan = DayPlan(source.url, day.isoformat(), [], [], 0, [])
    report, touched, manifest = DayReport(source.url, day.isoformat()), set(), None
    try:
        migrate(lake)
        day_plan = plan([source], lake, [day], force=force)[0]
        with Spill() as spill:
            work = _collect(source, day_plan, spill, progress, fetch_attempts)
            report = work.report
            if work.entries:
                manifest, touched = _commit(lake, work, new_run_id(), spill)
                collect_garbage(lake, work.unit, manifest, touched | manifest.targets())
            else:
                manifest = current(lake, work.unit)
    except (OSError, CommitError) as e:  # storage: reported, the run fails at its end
        report.error = describe(e)
    verify = manifest.targets() - touched if manifest else set()
    return UnitOutcome(day_plan, report, touched, verify,
                       {k: source.counts[k] - before[0][k] for k in ("LIST", "GET")},
                       {k: lake.counts[k] - before[1][k] for k in ("LIST", "PUT", "DELETE")})


def rebuild(lake: Lake, outcomes: Sequence[UnitOutcome], started: float) -> RunReport:
    """Rebuild every folder the units touched (pipelines.compact), and report the run."""
    before = lake.counts.as_dict()
    migrate(lake)
    rebuilt = compact(lake, sorted({t for o in outcomes for t in o.touched | o.verify}))
    report = RunReport(days=[o.report for o in outcomes], plans=[o.plan for o in outcomes],
                       run=new_run_id())
    _describe(lake, report, outcomes, rebuilt)
    report.requests = {k: sum(o.requests[k] for o in outcomes) for k in ("LIST", "GET")}
    report.lake_requests = {k: sum(o.lake_requests[k] for o in outcomes) + lake.counts[k]
                            - before[k] for k in ("LIST", "PUT", "DELETE")}
    report.seconds = time.perf_counter() - started
    return report


def recheck_trailing(sources: Sequence[LogSource], lake: Lake, today: date, late_days: int,
                     **kwargs) -> RunReport:
    return ingest(sources, lake, trailing_days(today, late_days), **kwargs)


@dataclass
class _Work:
    """What fetching and parsing one source's day produced, until it is committed."""

    source: LogSource
    unit: Unit
    report: DayReport
    entries: dict[str, ManifestEntry] = field(default_factory=dict)  # ingested now, by URL
    abandoned: set[str] = field(default_factory=set)  # failed half-read: rows in the spill


def _collect(source: LogSource, day_plan: DayPlan, spill: Spill, progress: bool,
             fetch_attempts: int) -> _Work:
    """Fetch and parse what the plan says is new or changed into the spill."""
    work = _Work(source, day_plan.unit, DayReport(source.url, day_plan.day))
    report = work.report
    report.objects_listed = len(day_plan.listed)
    report.objects_unchanged = day_plan.unchanged
    report.unrecognized_keys = day_plan.unrecognized
    todo = day_plan.todo
    if not todo:
        return work
    bar = Progress(f"ingest {source.url} {day_plan.day}", total=sum(o.size for o in todo),
                   unit="B", enabled=progress)
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
    bar.done()
    for e in work.entries.values():
        e.lines = e.records + e.rejects
    report.objects_ingested = len(work.entries)
    report.rows_parsed = sum(e.records for e in work.entries.values())
    report.rows_quarantined = sum(e.rejects for e in work.entries.values())
    report.lines_read = report.rows_parsed + report.rows_quarantined
    return work


def _parse(work: _Work, spill: Spill, objects: list) -> None:
    quarantine = Target.quarantine(work.unit)
    for result in parse_objects(objects):
        _route(work, spill, result.records)
        spill.add(work.unit, quarantine, result.rejects)
        for key, n in _count_by_key(result.rejects):
            work.entries[key].rejects += n


def _refuse(work: _Work, spill: Spill, o: ObjectInfo, why: str) -> None:
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


def _route(work: _Work, spill: Spill, records: pa.Table) -> None:
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


def _commit(lake: Lake, work: _Work, run: str, spill: Spill) -> tuple[Manifest, set[Target]]:
    """Commit the unit: its new staging, then the next manifest version. Another run that
    committed the unit first is folded in (its objects kept, ours added) and the next
    version tried; what we staged for the lost version is collected by a later commit.
    Returns the committed manifest and the folders whose rows changed."""
    unit, source = work.unit, work.source
    abandoned = pa.array(sorted(work.abandoned), pa.string())
    for _ in range(COMMIT_ATTEMPTS):
        base = current(lake, unit)
        objects = dict(base.objects) if base else {}
        old = [objects[u] for u in work.entries if u in objects]
        objects.update(work.entries)
        targets = spill.targets(unit) | {Target.records(p) for e in old for p in e.partitions}
        if old or any(e.rejects for e in work.entries.values()):
            targets.add(Target.quarantine(unit))
        version = (base.version if base else 0) + 1
        staging = dict(base.staging) if base else {}
        try:
            for target in sorted(targets):  # one folder's rows in memory at a time
                rows = pa.concat_tables([
                    staged_rows(lake, base, unit, target, without=set(work.entries)),
                    # not the rows of an object that failed half-read
                    *(t.filter(pc.invert(pc.is_in(t["source_key"], value_set=abandoned)))
                      if len(abandoned) else t for t in spill.tables(unit, target))])
                if rows.num_rows:
                    staging[target.path] = stage(lake, target, unit, version, run, rows)
                else:
                    staging.pop(target.path, None)
        except FileNotFoundError:
            continue  # a newer commit collected the version we read: read it again
        # every folder it ever fed and no longer does: each run checks them again
        dropped = ({*base.staging, *base.dropped} - set(staging)) if base else set()
        manifest = Manifest(source.url, unit.day, source.layout, objects, version, run,
                            staging, sorted(dropped))
        if commit(lake, unit, manifest):
            return manifest, targets
    raise CommitError(f"{source.url} {unit.day}: other runs committed it "
                      f"{COMMIT_ATTEMPTS} times first; run again")


def _describe(lake: Lake, report: RunReport, outcomes: Sequence[UnitOutcome],
              rebuilt: dict[Target, Compaction]) -> None:
    """Which partitions and files each day's commit led to rebuild."""
    for day, outcome in zip(report.days, outcomes):
        day.partitions = sorted(PartitionKey(*_keys(t.folder)) for t in outcome.touched
                                if t.table == "access_logs")
        day.files_written = sorted(lake.display(f) for t in outcome.touched if t in rebuilt
                                   for f in rebuilt[t].files)
    report.duplicates_dropped = sum(c.duplicates_dropped for c in rebuilt.values())


def _keys(folder: str) -> tuple[str, str]:
    dt, bucket = folder.split("/", 1)
    return dt.removeprefix("dt="), bucket.removeprefix("bucket=")

