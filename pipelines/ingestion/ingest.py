"""Ingest days of log objects from sources into the lake: incremental, idempotent,
late-aware, and safe however many runs go at once.

The unit of work is one source's day: the log objects filed under it. A run lists the
whole day (best-effort delivery keeps no order, so only a full listing finds every late
object; it costs a LIST per 1,000 objects), fetches what the unit's manifest lacks or
what changed (size, ETag), parses it, and commits each unit: staging files first, then a
new manifest version that is created only if no other run created it first
(pipelines.ingestion.units). Then it rebuilds what readers see in every folder those units feed
(pipelines.lake.compact), so a partition fed by runs of several days ends the same whatever
order, or overlap, they ran in. An object that cannot be read is named in the report and
tried again by the next run; one the store refuses for good is quarantined as an object;
the rest of the run goes on.

A committed staging file found missing or damaged (the rebuild checks each folder's in the
listing it makes anyway, and reads it whole whenever it rebuilds the folder) is written
again from its unit's log objects, still in the source; if they are gone, the folder
readers see is left as it is and the run fails saying so (the `staging_complete` check).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import date, timedelta
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather

from pipelines.ingestion.fetch import ATTEMPTS, describe, fetch, refused
from pipelines.ingestion.progress import Progress
from pipelines.ingestion.sources import LogSource, ObjectInfo, source_id
from pipelines.ingestion.units import (
    MANIFESTS,
    STAGING,
    CommitError,
    StagingDamaged,
    StagingLost,
    StagingProblem,
    collect_garbage,
    commit,
    current,
    migrate,
    new_run_id,
    stage,
    staged_rows,
    staging_path,
)
from pipelines.lake.compact import COMPACTED, MEMORY, Compaction, compact, groups
from pipelines.lake.manifest import Manifest, ManifestEntry, PartitionKey, Target, Unit
from pipelines.lake.spill import Spill
from pipelines.lake.storage import resolve
from pipelines.lake.store import LAKE_SCHEMA, Lake
from pipelines.parsing.logformat import REJECT_SCHEMA
from pipelines.parsing.parse import parse_objects

COMMIT_ATTEMPTS = 20
REPAIR_ATTEMPTS = 3  # a unit meets another damaged file of its own while it repairs one


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
    skipped: list[str] = field(default_factory=list)  # "path: why": local entries not read
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
    skipped: list[str] = field(default_factory=list)  # "path: why" (pipelines.ingestion.sources)

    @property
    def source_id(self) -> str:
        return source_id(self.source)

    @property
    def unit(self) -> Unit:
        return Unit(self.source_id, self.day)


@dataclass(frozen=True)
class Rebuilt:
    """A folder readers see that the run wrote, and why (new rows, or self-healing)."""

    folder: str               # Target.path: access_logs/dt=.../bucket=...
    reason: str
    files: int


@dataclass(frozen=True)
class StagingRepair:
    """A committed staging file found missing or damaged, and what the run did about it:
    re-ingested its unit's log objects, or (error) the sentence saying what to do."""

    file: str
    folder: str               # Target.path it feeds
    why: str                  # "is missing", "has 10 bytes where its manifest says 4,096"
    error: str | None = None  # None: repaired

    @property
    def repaired(self) -> bool:
        return self.error is None

    @property
    def sentence(self) -> str:
        return self.error or (f"staging file {self.file} {self.why}: re-ingested from its "
                              "log objects")


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
    rebuilt: list[Rebuilt] = field(default_factory=list)         # every folder written
    staging: list[StagingRepair] = field(default_factory=list)   # missing or damaged found

    @property
    def partitions_rewritten(self) -> int:
        """Records partitions the run wrote, whatever made it write them."""
        return sum(r.folder.startswith("access_logs/") for r in self.rebuilt)

    @property
    def files_rewritten(self) -> int:
        return sum(r.files for r in self.rebuilt)

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
                "duplicates_dropped": self.duplicates_dropped, "seconds": round(self.seconds, 3),
                "rebuilt": [asdict(r) for r in self.rebuilt],
                "staging": [{**asdict(r), "repaired": r.repaired} for r in self.staging]}


def plan(sources: Sequence[LogSource], lake: Lake, days: Iterable[date], *,
         force: bool = False) -> list[DayPlan]:
    """List every (source, day) in full and compare it with the unit's manifest."""
    return [_plan_unit(source, lake, day, force, ())[0] for day in days for source in sources]


def _plan_unit(source: LogSource, lake: Lake, day: date, force: bool,
               repair: Sequence[StagingProblem]) -> tuple[DayPlan, set[str]]:
    """One unit's plan, and the objects it must read again to write the damaged staging
    files in `repair` anew (every object that fed their folders); StagingLost, with the
    sentence, if some are no longer in the source."""
    manifest = current(lake, Unit(source.id, day.isoformat()))
    known = manifest.objects if manifest else {}
    listing = source.list_day(day)
    needed = {url for p in repair for url, e in known.items() if _feeds(e, p.target)}
    listed = {o.url for o in listing.objects}
    for p in repair:
        gone = sorted(url for url, e in known.items() if _feeds(e, p.target)
                      and url not in listed)
        if gone:
            raise StagingLost(_lost(p, gone))
    todo = [o for o in listing.objects if force or o.url in needed or o.url not in known
            or known[o.url].fingerprint != o.fingerprint]
    return DayPlan(source.url, day.isoformat(), listing.objects, todo,
                   len(listing.objects) - len(todo), listing.unrecognized,
                   [f"{s.path}: {s.reason}" for s in listing.skipped]), needed


def _feeds(entry: ManifestEntry, target: Target) -> bool:
    """Whether an object's rows are in the unit's staging file for `target`."""
    if target.table == "access_logs":
        return any(p.path == target.folder for p in entry.partitions)
    return entry.rejects > 0


def _lost(problem: StagingProblem, gone: list[str]) -> str:
    return (f"staging file {problem.file} {problem.why}, and {len(gone):,} of the log "
            f"objects it was built from are gone from the source (e.g. {gone[0]}): restore "
            "the file from a backup of the lake; until then the folder readers see is left "
            "as it is, with its rows")


def trailing_days(today: date, n: int) -> list[date]:
    """The n days before `today`, oldest first: what the daily run re-checks for late logs."""
    return [today - timedelta(days=k) for k in range(n, 0, -1)]


def ingest(sources: Sequence[LogSource], lake: Lake, days: Iterable[date] = (), *,
           force: bool = False, progress: bool = True, fetch_attempts: int = ATTEMPTS,
           memory: int = MEMORY, workers: int = 1) -> RunReport:
    """Ingest every (source, day), `workers` units at once (one after the other by
    default), then rebuild what they touched (in `memory` bytes of rows at most).
    `force` re-ingests unchanged objects too (the lake comes out byte-identical when
    nothing changed). Dagster runs the same two steps, the units concurrently. The
    lake is the same whatever `workers`: each unit writes only what it owns."""
    started = time.perf_counter()
    units = [(source, day) for day in days for source in sources]
    if workers > 1 and len(units) > 1:
        outcomes = _ingest_units(units, lake, workers, force=force, progress=progress,
                                 fetch_attempts=fetch_attempts)
    else:
        outcomes = [ingest_unit(source, lake, day, force=force, progress=progress,
                                fetch_attempts=fetch_attempts) for source, day in units]
    return rebuild(lake, outcomes, started, sources, progress=progress,
                   fetch_attempts=fetch_attempts, memory=memory)


def _ingest_units(units: list[tuple[LogSource, date]], lake: Lake, workers: int, *,
                  force: bool, progress: bool, fetch_attempts: int) -> list[UnitOutcome]:
    """The units on `workers` threads (parsing, Arrow and Parquet release the GIL, and a
    unit's spill is its own), each with clients of its own so the requests it reports
    are its own, and one progress line for all. The first unit that fails stops the
    ones not started yet, as one after the other would."""
    locks = {source.url: threading.Lock() for source, _ in units}
    bar = SharedProgress(f"ingest {len(units)} units, {workers} at once", progress)

    def one(source: LogSource, day: date) -> UnitOutcome:
        return ingest_unit(_Twin(source, locks[source.url]), lake.twin(), day, force=force,
                           progress=progress, fetch_attempts=fetch_attempts, bar=bar)

    pool = ThreadPoolExecutor(workers, thread_name_prefix="unit")
    try:
        futures = [pool.submit(one, source, day) for source, day in units]
        return [f.result() for f in futures]
    finally:
        pool.shutdown(cancel_futures=True)
        bar.done()


class _Twin(LogSource):
    """A run's source as one of its units running alongside others sees it: requests
    counted apart (a client of its own), its key layout found once for all, by the
    first unit that needs it, and counted there, as one unit after another would."""

    def __init__(self, source: LogSource, lock: threading.Lock) -> None:
        self.__dict__.update({k: v for k, v in vars(source).items() if k != "layout"})
        self.loc = resolve(source.loc.url, source.loc.fs.endpoint_url
                           if source.loc.is_s3 else None)
        self._source, self._lock = source, lock

    @cached_property
    def layout(self):
        with self._lock:
            if "layout" not in vars(self._source):
                vars(self._source)["layout"] = LogSource.layout.func(self)
            return vars(self._source)["layout"]


class SharedProgress(Progress):
    """One progress line for units running at once: each adds what it will read."""

    def __init__(self, label: str, enabled: bool) -> None:
        super().__init__(label, total=0, unit="B", enabled=enabled)
        self._lock = threading.Lock()

    def expect(self, n: int) -> None:
        with self._lock:
            self.total += n

    def advance(self, n: int = 1) -> None:
        with self._lock:
            super().advance(n)


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
    repaired: list[StagingProblem] = field(default_factory=list)  # its damaged staging

    @property
    def unit(self) -> Unit:
        return self.plan.unit


def ingest_unit(source: LogSource, lake: Lake, day: date, *, force: bool = False,
                progress: bool = True, fetch_attempts: int = ATTEMPTS,
                repair: Sequence[StagingProblem] = (), bar: SharedProgress | None = None
                ) -> UnitOutcome:
    """List, fetch, parse and commit one source's day: it writes only what the unit owns
    (its staging files and manifest), so any number of them can run at once, anywhere.
    `repair` names committed staging files of the unit found missing or damaged: they are
    written anew from the log objects that fed them (as is any other its commit meets).
    A unit that fails says why in its report (`error`); the other units go on. `bar`:
    a progress line units running at once share, instead of one of its own."""
    before = source.counts.as_dict(), lake.counts.as_dict()
    day_plan = DayPlan(source.url, day.isoformat(), [], [], 0, [])
    report, touched, manifest = DayReport(source.url, day.isoformat()), set(), None
    problems = list(repair)
    try:
        migrate(lake)
        for attempt in range(REPAIR_ATTEMPTS):
            try:
                day_plan, report, manifest, touched = _ingest_unit(
                    source, lake, day, force, progress, fetch_attempts, problems, bar)
                break
            except StagingDamaged as e:
                seen = {p.target for p in problems}
                problems += [p for p in e.problems if p.target not in seen]
                if attempt == REPAIR_ATTEMPTS - 1 or all(p.target in seen for p in e.problems):
                    raise StagingLost(f"{e}, and writing it again from its log objects did "
                                      "not take: run again") from e
    except StagingLost as e:  # the sentence says what to do
        report.error = str(e)
    except (OSError, CommitError) as e:  # storage: reported, the run fails at its end
        report.error = describe(e)
    verify = manifest.targets() - touched if manifest else set()
    return UnitOutcome(day_plan, report, touched, verify,
                       {k: source.counts[k] - before[0][k] for k in ("LIST", "GET")},
                       {k: lake.counts[k] - before[1][k] for k in ("LIST", "PUT", "DELETE")},
                       [] if report.error else problems)


def _ingest_unit(source: LogSource, lake: Lake, day: date, force: bool, progress: bool,
                 fetch_attempts: int, repair: list[StagingProblem],
                 bar: SharedProgress | None
                 ) -> tuple[DayPlan, DayReport, Manifest | None, set[Target]]:
    """One attempt at a unit: its plan, report, committed manifest and changed folders."""
    day_plan, needed = _plan_unit(source, lake, day, force, repair)
    with Spill() as spill:
        work = _collect(source, day_plan, spill, progress, fetch_attempts, bar)
        work.repair = {p.target for p in repair}
        unread = sorted(needed - set(work.entries))
        if unread:  # failed or vanished now: its rows could not be written again
            raise StagingLost(f"staging file {repair[0].file} {repair[0].why}, and "
                              f"{len(unread):,} of its log objects could not be read again "
                              f"(e.g. {unread[0]}): run again")
        if work.entries or work.repair:
            manifest, touched = _commit(lake, work, new_run_id(), spill)
            collect_garbage(lake, work.unit, manifest, touched | manifest.targets())
            return day_plan, work.report, manifest, touched
        return day_plan, work.report, current(lake, work.unit), set()


def rebuild(lake: Lake, outcomes: Sequence[UnitOutcome], started: float,
            sources: Sequence[LogSource] = (), *, progress: bool = False,
            fetch_attempts: int = ATTEMPTS, memory: int = MEMORY) -> RunReport:
    """Rebuild every folder the units touched or feed (pipelines.lake.compact, in `memory`
    bytes of rows at most), checking their committed staging on the way, then finish
    the run (`finish_rebuild`). Dagster runs the same two halves as separate steps, the
    folders in groups (`compact.groups`) rebuilt side by side."""
    before = lake.counts.as_dict()
    migrate(lake)
    folders = rebuild_folders(lake, FolderGroup(_feeders(outcomes)), memory=memory)
    folders = replace(folders, lake_requests=_since(lake, before))  # with migrate's
    return finish_rebuild(lake, outcomes, [folders], started, sources, progress=progress,
                          fetch_attempts=fetch_attempts, memory=memory)


@dataclass(frozen=True)
class FolderGroup:
    """Some of a run's folders, each with the units the run knows feed it: what one
    step rebuilds (`folder_groups`)."""

    feeders: dict[Target, set[Unit]]

    @property
    def targets(self) -> list[Target]:
        return sorted(self.feeders)


def folder_groups(lake: Lake, outcomes: Sequence[UnitOutcome], most: int
                  ) -> list[FolderGroup]:
    """The run's folders in at most `most` groups of about the same staged bytes
    (`compact.groups`); always one group, empty if the run changed no folder."""
    feeders = _feeders(outcomes)
    return [FolderGroup({t: feeders[t] for t in group})
            for group in groups(lake, sorted(feeders), most)]


@dataclass(frozen=True)
class FoldersRebuilt:
    """What rebuilding some of a run's folders did, and the lake requests it made."""

    compactions: dict[Target, Compaction]
    lake_requests: dict[str, int]


def rebuild_folders(lake: Lake, group: FolderGroup, *, memory: int = MEMORY
                    ) -> FoldersRebuilt:
    """Rebuild a group of a run's folders, some or all of them (call `migrate` first,
    once for the run)."""
    before = lake.counts.as_dict()
    rebuilt = compact(lake, group.targets, feeders=group.feeders, memory=memory)
    return FoldersRebuilt(rebuilt, _since(lake, before))


def _since(lake: Lake, before: dict[str, int]) -> dict[str, int]:
    return {k: lake.counts[k] - before[k] for k in ("LIST", "PUT", "DELETE")}


def finish_rebuild(lake: Lake, outcomes: Sequence[UnitOutcome],
                   folders: Sequence[FoldersRebuilt], started: float,
                   sources: Sequence[LogSource] = (), *, progress: bool = False,
                   fetch_attempts: int = ATTEMPTS, memory: int = MEMORY) -> RunReport:
    """After every folder of the run was rebuilt: a unit whose staging file there was
    found missing or damaged is ingested again from `sources` (the run's) and its
    folders rebuilt; the units' leftovers are cleaned. Then report the run: every folder
    written and why, every damaged file and what became of it."""
    before = lake.counts.as_dict()
    rebuilt = {t: c for f in folders for t, c in f.compactions.items()}
    repairs = _repair(lake, rebuilt, sources, progress, fetch_attempts)
    if repairs:
        rebuilt.update(compact(lake, _targets(repairs), feeders=_feeders(repairs),
                               memory=memory))
    clean_leftovers(lake, [*outcomes, *repairs])
    report = RunReport(days=[o.report for o in outcomes], plans=[o.plan for o in outcomes],
                       run=new_run_id())
    _describe(lake, report, outcomes, rebuilt)
    report.staging = _staging_report([*outcomes, *repairs], rebuilt)
    report.rebuilt = [_why_rebuilt(r, report.staging) for r in report.rebuilt]
    report.requests = {k: sum(o.requests[k] for o in [*outcomes, *repairs])
                       for k in ("LIST", "GET")}
    # the repairs' own lake requests are this step's (made through this `lake`)
    mine = _since(lake, before)
    report.lake_requests = {k: sum(o.lake_requests[k] for o in outcomes) + mine[k]
                            + sum(f.lake_requests[k] for f in folders) for k in mine}
    report.seconds = time.perf_counter() - started
    return report


def clean_leftovers(lake: Lake, outcomes: Sequence[UnitOutcome]) -> None:
    """Remove the hidden temporaries killed writers left (local lakes) in the folders the
    run's units write and check: each folder the units feed, its staging and rebuild
    record, and the units' manifests. A leftover is hidden from every reader, so it need
    not be found sooner; looking only there keeps the cost that of the day, not of the
    lake's history (a folder no run touches again keeps its leftover, unseen)."""
    folders = {lake.path(MANIFESTS, o.unit.path) for o in outcomes}
    for t in _targets(outcomes):
        folders |= {lake.path(t.table, t.folder), lake.path(STAGING, t.table, t.folder),
                    lake.path(COMPACTED, t.table, t.folder.split("/")[0])}
    for folder in sorted(folders):
        lake.clean_temporary_files(folder)


def _targets(outcomes: Sequence[UnitOutcome]) -> list[Target]:
    return sorted({t for o in outcomes for t in o.touched | o.verify})


def _feeders(outcomes: Sequence[UnitOutcome]) -> dict[Target, set[Unit]]:
    """The units each folder is fed by, as the run's own units know: checked even when
    the listing no longer shows a file of theirs."""
    feeders: dict[Target, set[Unit]] = {}
    for o in outcomes:
        for t in o.touched | o.verify:
            feeders.setdefault(t, set()).add(o.unit)
    return feeders


def _repair(lake: Lake, rebuilt: dict[Target, Compaction], sources: Sequence[LogSource],
            progress: bool, fetch_attempts: int) -> list[UnitOutcome]:
    """Ingest again the units whose staging files the rebuild found missing or damaged,
    when their source is one of the run's: the rest are reported, with what to run."""
    by_unit: dict[Unit, list[StagingProblem]] = {}
    for c in rebuilt.values():
        for p in c.problems:
            by_unit.setdefault(p.unit, []).append(p)
    by_id = {s.id: s for s in sources}
    return [ingest_unit(by_id[unit.source_id], lake, date.fromisoformat(unit.day),
                        progress=progress, fetch_attempts=fetch_attempts, repair=problems)
            for unit, problems in sorted(by_unit.items()) if unit.source_id in by_id]


def _staging_report(outcomes: Sequence[UnitOutcome],
                    rebuilt: dict[Target, Compaction]) -> list[StagingRepair]:
    """Every damaged staging file met: repaired by its unit's commit, or still damaged
    (a folder left as it was), with the sentence saying what to do."""
    out = {(p.target, p.unit): StagingRepair(p.file, p.target.path, p.why)
           for o in outcomes for p in o.repaired}
    errors = {o.unit: o.report.error for o in outcomes if o.report.error}
    for c in rebuilt.values():
        for p in c.problems:
            out[(p.target, p.unit)] = StagingRepair(p.file, p.target.path, p.why,
                                                    _unrepaired(p, errors.get(p.unit)))
    return [out[k] for k in sorted(out)]


def _unrepaired(p: StagingProblem, error: str | None) -> str:
    """What to do about a damaged staging file the run could not write again."""
    if error is None:  # its source is not one of the run's
        return (f"staging file {p.file} {p.why}: ingest its log objects again with "
                f"`s3logs ingest --source {p.source} --days {p.unit.day}`")
    if p.file in error:
        return error
    return (f"staging file {p.file} {p.why}, and ingesting its log objects again failed "
            f"({error}): fix that and run again")


def _why_rebuilt(r: Rebuilt, staging: list[StagingRepair]) -> Rebuilt:
    """A folder rebuilt because its staging was repaired says so."""
    fixed = [s for s in staging if s.repaired and s.folder == r.folder]
    if not fixed:
        return r
    return replace(r, reason=f"staging file {fixed[0].file} {fixed[0].why}; its unit's "
                             "log objects were ingested again")


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
    repair: set[Target] = field(default_factory=set)  # damaged staging: written, not read


def _collect(source: LogSource, day_plan: DayPlan, spill: Spill, progress: bool,
             fetch_attempts: int, shared: SharedProgress | None = None) -> _Work:
    """Fetch and parse what the plan says is new or changed into the spill."""
    work = _Work(source, day_plan.unit, DayReport(source.url, day_plan.day))
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
        targets |= work.repair
        if old or any(e.rejects for e in work.entries.values()):
            targets.add(Target.quarantine(unit))
        version = (base.version if base else 0) + 1
        manifest = Manifest(source.url, unit.day, source.layout, objects, version, run,
                            dict(base.staging) if base else {},
                            facts=dict(base.facts) if base else {})
        try:
            for target in sorted(targets):  # a few thousand rows in memory at a time
                rows = itertools.chain(
                    _kept_rows(lake, work, base, target, str(spill.folder)),
                    # not the rows of an object that failed half-read
                    (t.filter(pc.invert(pc.is_in(t["source_key"], value_set=abandoned)))
                     if len(abandoned) else t for t in _spilled(spill, unit, target)))
                manifest.set_staged(target.path, stage(lake, target, unit, version, run, rows,
                                                       str(spill.folder)))
        except _Collected:
            continue  # a newer commit collected the version we read: read it again
        # every folder it ever fed and no longer does: each run checks them again
        manifest.dropped = sorted(({*base.staging, *base.dropped} - set(manifest.staging))
                                  if base else set())
        if commit(lake, unit, manifest):
            return manifest, targets
    raise CommitError(f"{source.url} {unit.day}: other runs committed it "
                      f"{COMMIT_ATTEMPTS} times first; run again")


class _Collected(Exception):
    """The version a commit built on lost a staging file to a newer commit's cleanup."""


def _spilled(spill: Spill, unit: Unit, target: Target) -> Iterator[pa.Table]:
    """The unit's parsed rows for `target` in the spill, one piece at a time."""
    for path in spill.pieces.get((unit, target), []):
        yield feather.read_table(path, memory_map=False)


def _kept_rows(lake: Lake, work: _Work, base: Manifest | None, target: Target,
               scratch: str) -> Iterator[pa.Table]:
    """The unit's committed rows for `target` that this commit keeps, a few thousand at a
    time: those of the objects it did not ingest again (none where the file is being
    repaired: every object that fed it was). A file gone because a newer commit
    collected it is a race (_Collected); gone while the version is still current, it is
    damage (StagingDamaged)."""
    if target in work.repair:
        return
    try:
        yield from staged_rows(lake, base, work.unit, target, without=set(work.entries),
                               scratch=scratch)
    except FileNotFoundError as e:
        now = current(lake, work.unit)
        if base is None or now is None or now.version != base.version:
            raise _Collected from e
        path = staging_path(lake, target, work.unit, base.staging[target.path])
        raise StagingDamaged([StagingProblem(target, work.unit, lake.display(path),
                                             "is missing", base.source)]) from e


def _describe(lake: Lake, report: RunReport, outcomes: Sequence[UnitOutcome],
              rebuilt: dict[Target, Compaction]) -> None:
    """Which partitions and files each day's commit led to rebuild."""
    for day, outcome in zip(report.days, outcomes):
        day.partitions = sorted(PartitionKey(*_keys(t.folder)) for t in outcome.touched
                                if t.table == "access_logs")
        day.files_written = sorted(lake.display(f) for t in outcome.touched if t in rebuilt
                                   for f in rebuilt[t].files)
    report.duplicates_dropped = sum(c.duplicates_dropped for c in rebuilt.values())
    report.rebuilt = [Rebuilt(t.path, c.reason, len(c.files))
                      for t, c in sorted(rebuilt.items()) if c.written]


def _keys(folder: str) -> tuple[str, str]:
    dt, bucket = folder.split("/", 1)
    return dt.removeprefix("dt="), bucket.removeprefix("bucket=")

