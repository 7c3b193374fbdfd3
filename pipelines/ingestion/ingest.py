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

Here: the run (its units, one after the other or at once; the rebuild; its finish) and
each unit's attempt and commit. A unit is planned by pipelines.ingestion.planning, its
rows are collected by pipelines.ingestion.collect, and what the run did is reported as
pipelines.ingestion.results says.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.ingestion.collect import Collected, Work, collect, kept_rows, spilled_rows
from pipelines.ingestion.fetch import ATTEMPTS, describe
from pipelines.ingestion.planning import DayPlan, plan_unit, trailing_days
from pipelines.ingestion.progress import SharedProgress
from pipelines.ingestion.results import (
    DayReport,
    RunReport,
    UnitOutcome,
    note_rebuilt,
    staging_report,
    why_rebuilt,
)
from pipelines.ingestion.sources import LogSource
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
)
from pipelines.lake.compact import COMPACTED, MEMORY, Compaction, compact, groups
from pipelines.lake.manifest import Manifest, Target, Unit
from pipelines.lake.spill import Spill
from pipelines.lake.storage import resolve
from pipelines.lake.store import Lake

COMMIT_ATTEMPTS = 20
REPAIR_ATTEMPTS = 3  # a unit meets another damaged file of its own while it repairs one


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
    day_plan, needed = plan_unit(source, lake, day, force, repair)
    with Spill() as spill:
        work = collect(source, day_plan, spill, progress, fetch_attempts, bar)
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
    note_rebuilt(lake, report, outcomes, rebuilt)
    report.staging = staging_report([*outcomes, *repairs], rebuilt)
    report.rebuilt = [why_rebuilt(r, report.staging) for r in report.rebuilt]
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


def recheck_trailing(sources: Sequence[LogSource], lake: Lake, today: date, late_days: int,
                     **kwargs) -> RunReport:
    return ingest(sources, lake, trailing_days(today, late_days), **kwargs)


def _commit(lake: Lake, work: Work, run: str, spill: Spill) -> tuple[Manifest, set[Target]]:
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
                    kept_rows(lake, work, base, target, str(spill.folder)),
                    # not the rows of an object that failed half-read
                    (t.filter(pc.invert(pc.is_in(t["source_key"], value_set=abandoned)))
                     if len(abandoned) else t for t in spilled_rows(spill, unit, target)))
                manifest.set_staged(target.path, stage(lake, target, unit, version, run, rows,
                                                       str(spill.folder)))
        except Collected:
            continue  # a newer commit collected the version we read: read it again
        # every folder it ever fed and no longer does: each run checks them again
        manifest.dropped = sorted(({*base.staging, *base.dropped} - set(manifest.staging))
                                  if base else set())
        if commit(lake, unit, manifest):
            return manifest, targets
    raise CommitError(f"{source.url} {unit.day}: other runs committed it "
                      f"{COMMIT_ATTEMPTS} times first; run again")
