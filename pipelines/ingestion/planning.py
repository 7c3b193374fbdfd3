"""Planning a unit, one source's day (pipelines.ingestion.ingest): the day listed in full
and compared with the unit's manifest, so a run fetches only what is new or changed, and
reads again what fed a damaged staging file it must write anew.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from pipelines.ingestion.sources import LogSource, ObjectInfo, source_id
from pipelines.ingestion.units import StagingLost, StagingProblem, current
from pipelines.lake.manifest import ManifestEntry, Target, Unit
from pipelines.lake.store import Lake


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


def plan(sources: Sequence[LogSource], lake: Lake, days: Iterable[date], *,
         force: bool = False) -> list[DayPlan]:
    """List every (source, day) in full and compare it with the unit's manifest."""
    return [plan_unit(source, lake, day, force, ())[0] for day in days for source in sources]


def plan_unit(source: LogSource, lake: Lake, day: date, force: bool,
              repair: Sequence[StagingProblem]) -> tuple[DayPlan, set[str]]:
    """One unit's plan, and the objects it must read again to write the damaged staging
    files in `repair` anew (every object that fed their folders); StagingLost, with the
    sentence, if some are no longer in the source. `plan` gives a run's overview with it;
    pipelines.ingestion.ingest plans each unit it ingests with it."""
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
