"""Ingest days of log objects from sources into the lake: incremental, idempotent, late-aware.

The unit of work is (source, day): the log objects filed under that day. Its manifest
records each object ingested (key, size, ETag, last modified, counts, the partitions it fed).
A run lists the day, and fetches only objects that are new or whose size/ETag changed; if
none are, it makes no GET at all. Objects delivered late (best-effort delivery, or with
EventTime into an old day's folder) are picked up by running that day again, which is what
`recheck_trailing` does for the last N days. Only the partitions fed by changed objects are
rewritten; the manifest is written last, so a run that dies halfway is simply redone.
"""

from __future__ import annotations

import io
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather

from .fetch import ATTEMPTS, fetch
from .lake import LAKE_SCHEMA, Lake, PartitionWrite
from .layout import bucket_name_problem
from .logformat import REJECT_SCHEMA
from .manifest import Manifest, ManifestEntry, PartitionKey
from .parse import open_maybe_gzip, parse_objects
from .progress import Progress
from .sources import LogSource, ObjectInfo, source_id


@dataclass
class DayReport:
    source: str
    day: str
    objects_listed: int = 0           # returned by this run's listing (StartAfter: the tail)
    objects_ingested: int = 0         # new or changed, fetched and parsed this run
    objects_unchanged: int = 0        # in the manifest already, not fetched again
    objects_vanished: list[str] = field(default_factory=list)
    unrecognized_keys: list[str] = field(default_factory=list)
    bytes_fetched: int = 0
    lines_read: int = 0               # = rows_parsed + rows_quarantined
    rows_parsed: int = 0
    rows_quarantined: int = 0
    partitions: list[PartitionKey] = field(default_factory=list)   # rewritten
    files_written: list[str] = field(default_factory=list)


@dataclass
class RunReport:
    days: list[DayReport] = field(default_factory=list)
    plans: list[DayPlan] = field(default_factory=list)           # what the run set out to do
    requests: dict[str, int] = field(default_factory=dict)       # to the log sources
    lake_requests: dict[str, int] = field(default_factory=dict)  # to the lake
    duplicates_dropped: int = 0   # rows whose record_id the partition already held
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
        return {"days": days, "requests": self.requests, "lake_requests": self.lake_requests,
                "duplicates_dropped": self.duplicates_dropped, "seconds": round(self.seconds, 3)}


@dataclass
class DayPlan:
    """What a (source, day) needs: its listing, and the objects new or changed since the
    manifest. Serialisable, so listing and ingesting can be separate steps (assets)."""

    source: str
    day: str
    listed: list[ObjectInfo]
    todo: list[ObjectInfo]
    unchanged: int
    unrecognized: list[str]

    @property
    def source_id(self) -> str:
        return source_id(self.source)

    def as_dict(self) -> dict:
        return {"source": self.source, "day": self.day, "unchanged": self.unchanged,
                "unrecognized": self.unrecognized,
                "listed": [asdict(o) for o in self.listed],
                "todo": [o.url for o in self.todo]}

    @staticmethod
    def from_dict(d: dict) -> DayPlan:
        listed = [ObjectInfo(**o) for o in d["listed"]]
        todo = set(d["todo"])
        return DayPlan(d["source"], d["day"], listed, [o for o in listed if o.url in todo],
                       d["unchanged"], d["unrecognized"])


def plan(sources: Sequence[LogSource], lake: Lake, days: Iterable[date], *,
         force: bool = False) -> list[DayPlan]:
    """List every (source, day) and compare with its manifest: what a run would fetch."""
    plans = []
    for day in days:
        for source in sources:
            day_s = day.isoformat()
            known = _known(lake, source, day_s)
            after = None if force or not source.layout.time_sorted else \
                _resume_points(source, day, known)
            listing = source.list_day(day, after)
            todo = [o for o in listing.objects if force or o.url not in known
                    or known[o.url].fingerprint != o.fingerprint]
            plans.append(DayPlan(source.url, day_s, listing.objects, todo,
                                 len(set(known) - {o.url for o in todo}),
                                 listing.unrecognized))
    return plans


def trailing_days(today: date, n: int) -> list[date]:
    """The n days before `today`, oldest first: what the daily run re-checks for late logs."""
    return [today - timedelta(days=k) for k in range(n, 0, -1)]


def ingest(sources: Sequence[LogSource], lake: Lake, days: Iterable[date] = (), *,
           plans: list[DayPlan] | None = None, force: bool = False, progress: bool = True,
           fetch_attempts: int = ATTEMPTS) -> RunReport:
    """Ingest every (source, day), or carry out `plans` made earlier. `force` re-ingests
    unchanged objects too (the lake comes out byte-identical when nothing changed).

    All days of the run are collected first (parsed rows spilled to local disk), then each
    touched (dt, bucket) partition is rewritten once, then the quarantines, and the
    manifests last: a run that dies before its manifests is redone whole next time."""
    started = time.perf_counter()
    before = [s.counts.as_dict() for s in sources], lake.counts.as_dict()
    report = RunReport()
    with tempfile.TemporaryDirectory(prefix="s3logs-spill-") as tmp:
        spill = _Spill(tmp)
        if plans is None:
            plans = plan(sources, lake, days, force=force)
        report.plans = plans
        by_url = {s.url: s for s in sources}
        work = [_collect(by_url[p.source], lake, p, spill, progress, fetch_attempts)
                for p in plans]
        replaced = set().union(*(w.stats for w in work))
        touched = set(spill.pieces).union(*(w.old_partitions for w in work))
        written: dict[PartitionKey, PartitionWrite] = {}
        for key in sorted(touched):
            written[key] = lake.rebuild_partition(key, spill.tables(key), replaced)
    for w in work:
        report.days.append(w.report)
        if not w.stats:
            continue
        mine = set().union(*(e.partitions for e in w.stats.values())) | w.old_partitions
        w.report.partitions = sorted(mine)
        w.report.files_written = [lake.loc.display(f) for key in sorted(mine)
                                  for f in written[key].files]
        w.report.files_written += [lake.loc.display(f) for f in lake.rebuild_quarantine(
            w.report.day, w.source.id, w.rejects(), set(w.stats))]
    report.duplicates_dropped = sum(p.duplicates_dropped for p in written.values())
    for w in work:
        if w.stats:
            lake.write_manifest(w.source.id, w.manifest())
    report.requests = {k: sum(s.counts[k] - b[k] for s, b in zip(sources, before[0]))
                       for k in ("LIST", "GET")}
    report.lake_requests = {k: lake.counts[k] - before[1][k] for k in ("LIST", "PUT", "DELETE")}
    report.seconds = time.perf_counter() - started
    return report


def recheck_trailing(sources: Sequence[LogSource], lake: Lake, today: date, late_days: int,
                     **kwargs) -> RunReport:
    return ingest(sources, lake, trailing_days(today, late_days), **kwargs)


class _Spill:
    """Parsed rows per (dt, bucket), on local disk until the partitions are rebuilt, so
    memory holds one fetch batch and one partition, never a whole run."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)
        self.pieces: dict[PartitionKey, list[Path]] = defaultdict(list)
        self.n = 0

    def add(self, key: PartitionKey, table: pa.Table) -> None:
        self.n += 1
        path = self.folder / f"{self.n}.arrow"
        feather.write_feather(table, path, compression="uncompressed")
        self.pieces[key].append(path)

    def tables(self, key: PartitionKey) -> list[pa.Table]:
        return [feather.read_table(p) for p in self.pieces.get(key, [])]


@dataclass
class _DayWork:
    """What collecting one (source, day) produced, until partitions and manifests are
    written."""

    source: LogSource
    report: DayReport
    known: dict[str, ManifestEntry]          # the manifest's objects before this run
    stats: dict[str, ManifestEntry] = field(default_factory=dict)  # ingested now, by URL
    reject_tables: list[pa.Table] = field(default_factory=list)
    old_partitions: set[PartitionKey] = field(default_factory=set)  # fed by old versions

    def rejects(self) -> pa.Table:
        return pa.concat_tables(self.reject_tables) if self.reject_tables else \
            REJECT_SCHEMA.empty_table()

    def manifest(self) -> Manifest:
        for e in self.stats.values():
            e.lines = e.records + e.rejects
        objects = {u: e for u, e in self.known.items() if u not in self.stats} | self.stats
        return Manifest(self.source.url, self.report.day, self.source.layout, objects)


def _known(lake: Lake, source: LogSource, day: str) -> dict[str, ManifestEntry]:
    manifest = lake.read_manifest(source.id, day)
    return manifest.objects if manifest else {}


def _collect(source: LogSource, lake: Lake, day_plan: DayPlan, spill: _Spill,
             progress: bool, fetch_attempts: int) -> _DayWork:
    """Fetch and parse what the plan says is new or changed into the spill."""
    day_s = day_plan.day
    work = _DayWork(source, DayReport(source.url, day_s), _known(lake, source, day_s))
    report = work.report
    report.objects_listed = len(day_plan.listed)
    report.unrecognized_keys = day_plan.unrecognized
    todo = day_plan.todo
    report.objects_unchanged = day_plan.unchanged
    if not todo:
        return work
    bar = Progress(f"ingest {source.url} {day_s}", total=sum(o.size for o in todo), unit="B",
                   enabled=progress)
    for batch in fetch(source.loc, todo, attempts=fetch_attempts):
        report.objects_vanished += [o.url for o in batch.vanished]
        bodies = {o.url: body for o, body in batch.objects}
        for o, _ in batch.objects:
            work.stats[o.url] = ManifestEntry(o.size, o.etag, o.last_modified)
        for result in parse_objects(list(bodies.items())):
            records, bad = _quarantine_bad_buckets(result.records, bodies)
            work.reject_tables += [result.rejects, bad]
            _route(records, spill, work.stats)
            for key, n in _counts(result.rejects, bad):
                work.stats[key].rejects += n
        report.bytes_fetched += sum(len(b) for b in bodies.values())
        bar.advance(sum(o.size for o, _ in batch.objects))
    bar.done()
    for url in set(work.stats) & set(work.known):
        work.old_partitions |= work.known[url].partitions
    report.objects_ingested = len(work.stats)
    report.rows_parsed = sum(e.records for e in work.stats.values())
    report.rows_quarantined = sum(e.rejects for e in work.stats.values())
    report.lines_read = report.rows_parsed + report.rows_quarantined
    return work


LOOKBACK = timedelta(hours=1)


def _resume_points(source: LogSource, day: date, known: dict[str, ManifestEntry]
                   ) -> dict[str, str]:
    """Per day prefix, the key to list after: an hour before the newest known object's
    delivery time (two objects delivered in one second sort by a random suffix, and a
    delivery may land a little out of order). Log objects are write-once, so the ones before
    that point are exactly those already in the manifest."""
    simple = source.layout.simple
    points = {}
    for prefix in source.day_prefixes(day):
        shown = source.loc.display(prefix)
        rests = [u[len(shown):] for u in known if u.startswith(shown)]
        if not rests:
            continue
        newest = max(rests)
        try:
            delivered = (datetime.strptime(f"{day} {newest[:8]}", "%Y-%m-%d %H-%M-%S")
                         if simple else datetime.strptime(newest[:19], "%Y-%m-%d-%H-%M-%S"))
        except ValueError:
            continue
        cutoff = delivered - LOOKBACK
        if cutoff.date() == day:
            points[prefix] = prefix + cutoff.strftime("%H-%M-%S" if simple
                                                      else "%Y-%m-%d-%H-%M-%S")
    return points


def _counts(*tables: pa.Table) -> list[tuple[str, int]]:
    out: dict[str, int] = defaultdict(int)
    for t in tables:
        if t.num_rows:
            for row in t.group_by("source_key").aggregate([("source_key", "count")]).to_pylist():
                out[row["source_key"]] += row["source_key_count"]
    return list(out.items())


def _route(records: pa.Table, spill: _Spill, stats: dict[str, ManifestEntry]) -> None:
    """Split parsed rows by (event date, source bucket) into the spill."""
    if not records.num_rows:
        return
    dt = pc.strftime(records["request_time"], format="%Y-%m-%d")
    records = records.append_column("_dt", dt)
    groups = records.group_by(["_dt", "bucket", "source_key"]).aggregate([("_dt", "count")])
    for g in groups.to_pylist():
        stats[g["source_key"]].records += g["_dt_count"]
        stats[g["source_key"]].partitions.add(PartitionKey(g["_dt"], g["bucket"]))
    for pair in groups.select(["_dt", "bucket"]).group_by(["_dt", "bucket"]).aggregate(
            []).to_pylist():
        mask = pc.and_(pc.equal(records["_dt"], pair["_dt"]),
                       pc.equal(records["bucket"], pair["bucket"]))
        part = records.filter(mask).select(LAKE_SCHEMA.names)
        spill.add(PartitionKey(pair["_dt"], pair["bucket"]), part)


def _quarantine_bad_buckets(records: pa.Table, bodies: dict[str, bytes]
                            ) -> tuple[pa.Table, pa.Table]:
    """Move records whose bucket cannot be a lake folder to quarantine, raw line and all."""
    names = pc.unique(records["bucket"]).to_pylist()
    bad_names = {n: p for n in names if (p := bucket_name_problem(n))}
    if not bad_names:
        return records, REJECT_SCHEMA.empty_table()
    bad_mask = pc.is_in(records["bucket"], value_set=pa.array(list(bad_names), pa.string()))
    bad_mask = pc.fill_null(pc.or_kleene(bad_mask, pc.is_null(records["bucket"])), True)
    bad = records.filter(bad_mask).select(["source_key", "line_number", "bucket"]).to_pylist()
    lines_of: dict[str, list[bytes]] = {}
    rows = []
    for r in bad:
        if r["source_key"] not in lines_of:
            body = open_maybe_gzip(io.BytesIO(bodies[r["source_key"]])).read()
            lines_of[r["source_key"]] = body.split(b"\n")
        raw = lines_of[r["source_key"]][r["line_number"] - 1].rstrip(b"\r")
        reason = bad_names.get(r["bucket"]) or bucket_name_problem(r["bucket"])
        rows.append({"source_key": r["source_key"], "line_number": r["line_number"],
                     "raw_line": raw, "reason": reason})
    return records.filter(pc.invert(bad_mask)), pa.Table.from_pylist(rows, REJECT_SCHEMA)
