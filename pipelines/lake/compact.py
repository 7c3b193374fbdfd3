"""Rebuild what readers see from what units committed.

A records partition (or a unit's quarantine) is a pure function of the committed staging
files of the units that feed it: their rows, deduplicated on record_id (the copy with the
smallest source_key, line_number kept), sorted, written deterministically. Any run may
rebuild any folder at any time, concurrently with others: each rebuild records the inputs
it used (`_compacted/TARGET.json`) with the fingerprint of each file it wrote (ETag, or
size, mtime and inode), and once a pass has written its folders, a second pass reads the
units' manifests afresh and rebuilds again any folder whose inputs changed meanwhile.
Every write is thus followed by a fresh check, so the last writer of a folder always wrote
it from the current inputs, and concurrent runs converge to exactly what one sequential run
writes. A folder counts as current only if its record names the current inputs and the
storage still holds exactly the files the record names: a writer killed between its file
and its record, with stale rows, is caught by the next run. A current folder is left alone
(no write), which is what makes a re-run with nothing new cost no PUT.

Memory is bounded whatever a folder's size. A folder whose rows fit a rebuild's share of
`memory` is read, sorted and written whole, as it always was. A larger one is sorted
outside memory, in the run's own temporary folder (a `Spill`, removed when the run ends
or by the next run if it is killed): its staging files are read a few thousand rows at a
time into chunks of a third of the share, each chunk deduplicated and sorted exactly as
a whole folder is (`canonical`) and written as a sorted run (Arrow IPC, lz4), and the
runs are merged a small batch of each at a time (a k-way merge; more runs than `FAN_IN`
are first merged into fewer). A batch of rows is final once every run has read past it,
and a record's copies share their sort key (`record_id` is the hash of the raw line,
`request_time` read from it), so a record's copies meet in one merge step, where
`canonical` keeps the one a whole-folder sort would. The merged rows are written in row
groups as they come (`Lake.write_parts`), the same bytes as a whole-folder write. Each
rebuild thus holds at most its share, plus what reading and writing Parquet hold whatever
the folder's size (a page and a dictionary of each column read, the row group being
written: 128K rows), and large folders rebuild side by side instead of one alone.
Why not DuckDB's `COPY ... ORDER BY` with a memory limit: the visible files must stay the
bytes pyarrow writes from the rows `canonical` keeps, so DuckDB would only sort, with
types to map both ways (fixed-size binary ids, time zones, lists), a window function for
the deduplication, and a lake on S3 to read through a registered filesystem; the merge
reuses `canonical` and the lake's own writer, and needs only local disk.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.ingestion.units import (
    STAGING,
    BadStaging,
    StagingProblem,
    current_feeds,
    open_staging,
    read_staging,
    schema_of,
    size_problem,
    staging_batches,
    staging_path,
)
from pipelines.lake.manifest import Feeds, Target, Unit
from pipelines.lake.spill import Spill
from pipelines.lake.store import Lake, canonical, unreadable
from pipelines.memory import give_back

COMPACTED = "_compacted"
MAX_PASSES = 50
THREADS = 4  # each holds one folder's rows
NEW_ROWS = "its units committed other rows"  # the routine reason; the others self-heal
_UNIT = re.compile(r"/source=([0-9a-f]+)/day=([0-9-]{10})/")


class Budget:
    """Bytes of working memory the rebuilding threads share: a folder waits until what it
    needs fits (its estimate, or a rebuild's share if sorted outside memory), so many
    small folders rebuild at once and large ones two at a time."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0
        self.free = threading.Condition()

    @contextmanager
    def hold(self, n: int):
        with self.free:
            self.free.wait_for(lambda: self.used == 0 or self.used + n <= self.limit)
            self.used += n
        try:
            yield
        finally:
            with self.free:
                self.used -= n
                self.free.notify_all()


# Decoded rows, their sorted and deduplicated copies and the Parquet being written take
# about this many times the compressed staging bytes.
EXPANSION = 16
MEMORY = 384 << 20  # what a compaction's rebuilds hold at once; one holds half at most
FAN_IN = 8          # sorted runs merged at once (each holds two small batches)


class CompactionError(RuntimeError):
    """Folders kept changing under their rebuild; the next run finishes them."""


@dataclass(frozen=True)
class Compaction:
    target: Target
    files: list[str]          # written (none if it was already current)
    rows: int
    duplicates_dropped: int
    written: bool = True      # False: left as it was (inputs gone meanwhile, or damaged)
    reason: str = ""          # why it was rebuilt (or why it could not be)
    problems: tuple[StagingProblem, ...] = ()   # damaged inputs: the folder is left alone


@dataclass(frozen=True)
class Inputs:
    """What a folder is built from: its units' committed staging files (paths under its
    staging folder), the ones found missing or damaged, and the units looked at; with
    each file's size as listed (-1: not seen in the listing)."""

    paths: tuple[str, ...]
    problems: tuple[StagingProblem, ...]
    units: frozenset[Unit]
    sizes: tuple[int, ...] = field(default=(), compare=False)

    def same(self, other: Inputs | None) -> bool:
        return other is not None and (self.paths, self.problems) == (other.paths,
                                                                     other.problems)


def compact(lake: Lake, targets: list[Target], threads: int = THREADS,
            feeders: Mapping[Target, set[Unit]] | None = None,
            memory: int = MEMORY) -> dict[Target, Compaction]:
    """Bring each target in line with the staging its units committed. Folders are
    independent, so `threads` rebuild them at once (mostly waiting on storage, or in
    Arrow, which releases the GIL), holding at most `memory` bytes of rows together,
    half of it at most each (a larger folder is sorted outside memory). `feeders` names
    units known to feed a target (the run's own): with the units its staging listing and
    its last record show, each one's committed file is checked there (present, of the
    size its manifest recorded); a folder with a missing or damaged input is left as it
    is and returned with the problems, never rebuilt without those rows."""
    done: dict[Target, Compaction] = {}
    pending = sorted(set(targets))
    feeders = feeders or {}
    budget = Budget(memory)
    give_back()  # what the units freed (parse buffers, staging) goes back first
    with Spill() as scratch, ThreadPoolExecutor(threads, thread_name_prefix="compact") as pool:
        for _ in range(MAX_PASSES):
            manifests: dict[Unit, Feeds | None] = {}  # read once per pass
            written: dict[Target, Inputs | None] = {}
            rebuilt = pool.map(partial(_rebuild, lake, manifests=manifests,
                                       feeders=feeders, budget=budget,
                                       scratch=str(scratch.folder)), pending)
            for target, (result, inputs) in zip(pending, rebuilt):
                if result is not None:
                    done[target] = result
                    if not result.problems:
                        written[target] = inputs
            fresh: dict[Unit, Feeds | None] = {}  # after every write of the pass
            now = pool.map(partial(_recheck, lake, manifests=fresh, feeders=feeders),
                           written, written.values())
            pending = [t for t, inputs in zip(written, now) if not inputs.same(written[t])]
            if not pending:
                give_back()
                return done
    raise CompactionError(f"{len(pending)} lake folders kept changing while they were "
                          f"rebuilt {MAX_PASSES} times (e.g. {pending[0].path}): run again")


def groups(lake: Lake, targets: list[Target], most: int) -> list[list[Target]]:
    """The folders in at most `most` groups of about the same staged bytes, never a
    folder split: what separate steps (or machines) rebuild at once. Largest first, each
    into the lightest group so far; sizes come from one listing of each day's staging."""
    sizes: dict[Target, int] = dict.fromkeys(targets, 0)
    for table, day in sorted({(t.table, t.folder.split("/")[0]) for t in targets}):
        root = lake.path(STAGING, table, day)
        for path, size in lake.sizes(root).items():
            folder = path[len(root) + 1:].split("/", 1)[0]
            target = Target(table, f"{day}/{folder}")
            if target in sizes:
                sizes[target] += size
    return balanced(sizes, most)


def balanced(sizes: Mapping[Target, int], most: int) -> list[list[Target]]:
    """Greedy longest-first scheduling: within 4/3 of the best spread, and the same
    groups for the same sizes (ties go by path), so a retried run's steps match."""
    bins: list[list[Target]] = [[] for _ in range(max(1, min(most, len(sizes))))]
    load = [0] * len(bins)
    for target in sorted(sizes, key=lambda t: (-sizes[t], t.table, t.folder)):
        lightest = min(range(len(bins)), key=lambda i: (load[i], i))
        bins[lightest].append(target)
        load[lightest] += sizes[target]
    return [sorted(b, key=lambda t: (t.table, t.folder)) for b in bins]


def _recheck(lake: Lake, target: Target, before: Inputs | None, *, manifests: dict,
             feeders: Mapping[Target, set[Unit]]) -> Inputs:
    """A folder's inputs read again after the pass wrote it (the same units looked at)."""
    also = (before.units if before is not None else frozenset()) | feeders.get(target, set())
    return _inputs(lake, target, manifests=manifests, also=also)


@dataclass(frozen=True)
class _Record:
    """What `_compacted/TARGET.json` says the folder was last built from (None: no
    record, or one that cannot be read, which only means the folder is rebuilt)."""

    value: dict | None
    unreadable: str | None = None

    @property
    def units(self) -> set[Unit]:
        inputs = (self.value or {}).get("inputs")
        if not isinstance(inputs, list):
            return set()
        return {Unit(*m.groups()) for p in inputs if isinstance(p, str)
                and (m := _UNIT.search("/" + p))}


def _read_record(lake: Lake, path: str) -> _Record:
    """The record of a folder's last rebuild. It is only a cache of what the folder
    holds, so a damaged one is not an error: the folder is rebuilt and it is written anew."""
    data = lake.read_bytes(path)
    if data is None:
        return _Record(None)
    try:
        value = json.loads(data)
    except ValueError as e:
        return _Record(None, unreadable(e))
    if not (isinstance(value, dict) and isinstance(value.get("inputs"), list)
            and isinstance(value.get("files"), dict)):
        return _Record(None, "not the shape of a record")
    return _Record(value)


def _rebuild(lake: Lake, target: Target, *, manifests: dict,
             feeders: Mapping[Target, set[Unit]], budget: Budget, scratch: str
             ) -> tuple[Compaction | None, Inputs | None]:
    record_path = lake.path(COMPACTED, f"{target.path}.json")
    folder = lake.path(target.table, target.folder)
    record = _read_record(lake, record_path)
    inputs = _inputs(lake, target, manifests=manifests,
                     also=record.units | feeders.get(target, set()))
    if inputs.problems:
        return _damaged(target, inputs.problems), inputs
    existing = lake.fingerprints(folder)
    if record.value == _record(folder, list(inputs.paths), existing):
        return None, inputs
    why = _why(record, list(inputs.paths), existing)
    paths = [lake.path(STAGING, target.table, target.folder, i) for i in inputs.paths]
    share = budget.limit // 2
    estimate = EXPANSION * sum(inputs.sizes)
    try:
        if min(inputs.sizes, default=0) >= 0 and estimate <= share:
            with budget.hold(estimate):
                built = _whole(lake, target, folder, paths, manifests)
        else:
            with budget.hold(share), tempfile.TemporaryDirectory(
                    prefix="rebuild-", dir=scratch) as tmp:
                built = _merged(lake, target, folder, paths, manifests, tmp, share)
    except FileNotFoundError:  # a newer commit collected one: the next pass reads again
        return Compaction(target, [], 0, 0, written=False), None
    finally:  # this thread's freed memory back to the system, not kept for the next
        pa.default_memory_pool().release_unused()
    if isinstance(built, tuple):  # found only by reading it: left as it is, like a missing one
        return _damaged(target, built), replace(inputs, problems=built)
    lake.write_json(record_path, _record(folder, list(inputs.paths), built.files))
    return Compaction(target, list(built.files), built.kept, built.read - built.kept,
                      reason=why), inputs


@dataclass(frozen=True)
class _Built:
    files: dict[str, str]   # written, with their fingerprints
    read: int               # rows in the staging files
    kept: int               # rows written (one per record)


def _sort_key(target: Target) -> str | None:
    return "request_time" if target.table == "access_logs" else None


def _whole(lake: Lake, target: Target, folder: str, paths: list[str], manifests: dict
           ) -> _Built | tuple[StagingProblem, ...]:
    """A folder rebuilt in memory: its staging files read, sorted and written whole."""
    data = lake.read_files(paths)
    rows, problems = _decode(lake, target, paths, data, manifests)
    if problems:
        return problems
    del data
    kept = _final(target, rows)
    return _Built(lake.write_files(folder, kept, _sort_key(target)), rows.num_rows,
                  kept.num_rows)


def _merged(lake: Lake, target: Target, folder: str, paths: list[str], manifests: dict,
            tmp: str, share: int) -> _Built | tuple[StagingProblem, ...]:
    """A folder rebuilt holding at most `share` bytes of rows (and one row group being
    written): sorted runs of its staging rows in `tmp`, merged as they are written."""
    final = partial(_final, target)
    chunk_bytes, batch_bytes = share // 3, max(share // (16 * FAN_IN), 1)
    runs, chunk, size, read, problems = [], [], 0, 0, []
    for path in paths:
        unit = Unit(*_UNIT.search(path).groups())
        manifest = manifests.get(unit)
        facts = manifest.facts.get(target.path) if manifest else None
        with open_staging(lake, path, tmp) as file:
            try:
                for rows in staging_batches(file, schema_of(target), facts,
                                            chunk_bytes // 8):
                    if problems:
                        continue  # only checked: the folder is left as it is
                    read += rows.num_rows
                    chunk.append(rows)
                    size += rows.nbytes
                    if size >= chunk_bytes:
                        runs.append(_write_run(final(pa.concat_tables(chunk)), tmp,
                                               batch_bytes))
                        chunk, size = [], 0
            except BadStaging as e:
                problems.append(StagingProblem(target, unit, lake.display(path), str(e),
                                               manifest.source if manifest else ""))
    if problems:
        return tuple(problems)
    if not runs:  # it fit in one chunk after all
        kept = final(pa.concat_tables(chunk)) if chunk else schema_of(target).empty_table()
        return _Built(lake.write_files(folder, kept, _sort_key(target)), read, kept.num_rows)
    if chunk:
        runs.append(_write_run(final(pa.concat_tables(chunk)), tmp, batch_bytes))
    del chunk
    key = _merge_key(target)
    while len(runs) > FAN_IN:  # fewer, longer runs, FAN_IN at a time
        groups = [runs[i:i + FAN_IN] for i in range(0, len(runs), FAN_IN)]
        runs = []
        for group in groups:
            runs.append(_write_runs(_merge([_read_run(p) for p in group], final, key), tmp,
                                    batch_bytes))
            for p in group:
                os.unlink(p)
    kept = _Counted(_merge([_read_run(p) for p in runs], final, key))
    files = lake.write_parts(folder, kept, _sort_key(target), tmp)
    return _Built(files, read, kept.rows)


class _Counted:
    """Tables passed through, their rows counted."""

    def __init__(self, tables: Iterator[pa.Table]) -> None:
        self.tables, self.rows = tables, 0

    def __iter__(self) -> Iterator[pa.Table]:
        while (t := next(self.tables, None)) is not None:
            self.rows += t.num_rows
            yield t
            t = None  # not held while the next is made


def _merge_key(target: Target) -> Callable[[pa.Table, int], tuple]:
    """The sort key of row i, as Python values that compare as `_final` orders rows
    (timestamps as integers, ids as bytes: big-endian, as `canonical` compares them;
    text compares by code point, as Arrow compares UTF-8 by bytes)."""
    if target.table == "access_logs":
        return lambda t, i: (t["request_time"][i].value, t["record_id"][i].as_py())
    return lambda t, i: (t["source_key"][i].as_py(), t["line_number"][i].as_py())


def _merge(runs: list[Iterator[pa.Table]], final: Callable[[pa.Table], pa.Table],
           key: Callable[[pa.Table, int], tuple]) -> Iterator[pa.Table]:
    """Rows of sorted runs (each already `final`) in their final order, one step at a
    time. Each run keeps at least one batch read ahead; a step takes every row that
    sorts before the smallest last key read of the runs not yet read to their end, which
    no row still unread can precede or equal, and makes it final (a record's copies in
    several runs, equal keys, are always taken in the same step). Equal keys keep the
    order of the runs, as a stable sort of the whole would."""
    pending: list[pa.Table | None] = [None] * len(runs)
    unread = [True] * len(runs)
    low = 0  # a run is read ahead while it holds fewer rows than its first batch had
    while True:
        for r, run in enumerate(runs):
            while unread[r] and (pending[r] is None or pending[r].num_rows < low or key(
                    pending[r], 0) == key(pending[r], pending[r].num_rows - 1)):
                batch = next(run, None)
                if batch is None:
                    unread[r] = False
                    break
                low = max(low, batch.num_rows)
                pending[r] = batch if pending[r] is None else pa.concat_tables(
                    [pending[r], batch])
        limits = [key(p, p.num_rows - 1) for p, more in zip(pending, unread) if more]
        limit = min(limits) if limits else None
        step = []
        for r, p in enumerate(pending):
            if p is None or not p.num_rows:
                continue
            n = p.num_rows if limit is None else bisect_left(
                range(p.num_rows), limit, key=partial(key, p))
            if n:
                step.append(p.slice(0, n))
                pending[r] = p.slice(n)
        if step:
            yield final(pa.concat_tables(step) if len(step) > 1 else step[0])
        if limit is None:
            return


def _write_run(rows: pa.Table, folder: str, batch_bytes: int) -> str:
    """A sorted run in a file of `folder`, in batches of about `batch_bytes`."""
    return _write_runs(iter([rows]), folder, batch_bytes)


def _write_runs(tables: Iterator[pa.Table], folder: str, batch_bytes: int) -> str:
    path = os.path.join(folder, f"run-{uuid.uuid4().hex}.arrow")
    writer = None
    try:
        for t in tables:
            if writer is None:
                writer = pa.ipc.new_file(path, t.schema, options=pa.ipc.IpcWriteOptions(
                    compression="lz4"))
            if t.num_rows:
                rows = max(64, batch_bytes * t.num_rows // max(t.nbytes, 1))
                writer.write_table(t, max_chunksize=rows)
    finally:
        if writer is not None:
            writer.close()
    return path


def _read_run(path: str) -> Iterator[pa.Table]:
    with pa.OSFile(path) as f:
        reader = pa.ipc.open_file(f)
        for i in range(reader.num_record_batches):
            yield pa.Table.from_batches([reader.get_batch(i)])


def _damaged(target: Target, problems: tuple[StagingProblem, ...]) -> Compaction:
    return Compaction(target, [], 0, 0, written=False, problems=problems,
                      reason="left as it was: " + "; ".join(p.sentence for p in problems))


def _why(record: _Record, inputs: list[str], existing: dict[str, str]) -> str:
    """Why a folder is rebuilt, for the run's summary."""
    if record.unreadable:
        return f"its record could not be read ({record.unreadable})"
    if record.value is None:  # a new folder has none yet: routine
        return "it had no record of what it was built from" if existing else NEW_ROWS
    if record.value.get("inputs") != inputs:
        return NEW_ROWS
    return ("its files were not the ones its last rebuild wrote (a writer killed "
            "mid-rebuild, or changed by hand)")


def _decode(lake: Lake, target: Target, paths: list[str], data: list[bytes],
            manifests: dict) -> tuple[pa.Table, tuple[StagingProblem, ...]]:
    """The rows of a folder's staging files, each checked against what its manifest
    recorded (readable Parquet, its size and row count)."""
    schema, tables, problems = schema_of(target), [], []
    for path, body in zip(paths, data):
        unit = Unit(*_UNIT.search(path).groups())
        manifest = manifests.get(unit)
        facts = manifest.facts.get(target.path) if manifest else None
        rows, why = read_staging(body, schema, facts)
        if why:
            problems.append(StagingProblem(target, unit, lake.display(path), why,
                                           manifest.source if manifest else ""))
        tables.append(rows)
    rows = pa.concat_tables(tables) if tables else schema.empty_table()
    return rows, tuple(problems)


def _record(folder: str, inputs: list[str], files: dict[str, str]) -> dict:
    return {"inputs": inputs,
            "files": {path[len(folder) + 1:]: stamp for path, stamp in sorted(files.items())}}


def _inputs(lake: Lake, target: Target, *, manifests: dict,
            also: set[Unit] | frozenset[Unit] = frozenset()) -> Inputs:
    """The committed staging files of the units that feed `target`, as paths under its
    staging folder: for each unit with staging there (or in `also`), the file its current
    manifest names (a unit whose current version no longer feeds the target has none).
    Each is checked in the same listing: a file missing or of another size than its
    manifest recorded is a problem, once a fresh read of the manifest confirms it."""
    base = lake.path(STAGING, target.table, target.folder)
    listing = lake.sizes(base)
    units = {Unit(*m.groups()) for p in listing if (m := _UNIT.search(p[len(base):]))}
    paths, problems, sizes = [], [], []
    for unit in sorted(units | set(also)):
        if unit not in manifests:
            manifests[unit] = current_feeds(lake, unit)
        name, problem = _check(lake, target, unit, manifests[unit], listing)
        if problem is not None:
            name, problem = _confirm(lake, target, unit, manifests)
        if problem is not None:
            problems.append(problem)
        elif name:
            path = staging_path(lake, target, unit, name)
            paths.append(path[len(base) + 1:])
            sizes.append(listing.get(path, -1))
    return Inputs(tuple(paths), tuple(problems), frozenset(units | set(also)), tuple(sizes))


def _check(lake: Lake, target: Target, unit: Unit, manifest: Feeds | None,
           listing: dict[str, int]) -> tuple[str | None, StagingProblem | None]:
    """The staging file the manifest names for `target`, and whether the listing shows
    it missing or of another size than recorded."""
    name = manifest.staging.get(target.path) if manifest else None
    if not name:
        return None, None
    path = staging_path(lake, target, unit, name)
    size, facts = listing.get(path), manifest.facts.get(target.path)
    why = ("is missing" if size is None else size_problem(size, facts.size)
           if facts is not None and size != facts.size else None)
    return name, why and StagingProblem(target, unit, lake.display(path), why,
                                        manifest.source)


def _confirm(lake: Lake, target: Target, unit: Unit, manifests: dict
             ) -> tuple[str | None, StagingProblem | None]:
    """A file seen missing may have been collected by a commit newer than the manifest
    read (a race, not damage): read the manifest again, list the unit's folder again,
    and believe the problem only if the version did not change in between."""
    fresh = manifests[unit] = current_feeds(lake, unit)
    folder = lake.path(STAGING, target.table, target.folder, unit.path)
    name, problem = _check(lake, target, unit, fresh, lake.sizes(folder))
    if problem is None:
        return name, None
    again = current_feeds(lake, unit)
    if again is not None and fresh is not None and again.version != fresh.version:
        manifests[unit] = again
        return again.staging.get(target.path), None  # a newer commit: the next pass checks
    return name, problem


def _final(target: Target, rows: pa.Table) -> pa.Table:
    if target.table == "access_logs":
        return canonical(rows)
    if not rows.num_rows:
        return rows
    return rows.take(pc.sort_indices(rows, [("source_key", "ascending"),
                                            ("line_number", "ascending")]))
