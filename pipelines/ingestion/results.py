"""What an ingestion run did (pipelines.ingestion.ingest): each unit's outcome and report,
the run's report over all (every folder it wrote and why, every damaged staging file it
met and what became of it), and how that report is put together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from pipelines.ingestion.planning import DayPlan
from pipelines.ingestion.units import StagingProblem
from pipelines.lake.compact import Compaction
from pipelines.lake.manifest import PartitionKey, Target, Unit
from pipelines.lake.store import Lake


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


def staging_report(outcomes: Sequence[UnitOutcome],
                   rebuilt: dict[Target, Compaction]) -> list[StagingRepair]:
    """Every damaged staging file met: repaired by its unit's commit, or still damaged
    (a folder left as it was), with the sentence saying what to do: the run's report
    (pipelines.ingestion.ingest.finish_rebuild) lists them."""
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


def why_rebuilt(r: Rebuilt, staging: list[StagingRepair]) -> Rebuilt:
    """A folder rebuilt because its staging was repaired says so (in the run's report,
    pipelines.ingestion.ingest.finish_rebuild)."""
    fixed = [s for s in staging if s.repaired and s.folder == r.folder]
    if not fixed:
        return r
    return replace(r, reason=f"staging file {fixed[0].file} {fixed[0].why}; its unit's "
                             "log objects were ingested again")


def note_rebuilt(lake: Lake, report: RunReport, outcomes: Sequence[UnitOutcome],
                 rebuilt: dict[Target, Compaction]) -> None:
    """Which partitions and files each day's commit led to rebuild, noted in the run's
    report (pipelines.ingestion.ingest.finish_rebuild)."""
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
