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
reuses `canonical` and the lake's own writer, and needs only local disk. The runs and
their merge are pipelines.lake.sorted_runs; what a folder is built from, and the record
of it, pipelines.lake.folder_inputs.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.ingestion.units import (
    STAGING,
    BadStaging,
    StagingProblem,
    open_staging,
    read_staging,
    schema_of,
    staging_batches,
)
from pipelines.lake.folder_inputs import (
    UNIT_IN_PATH,
    Inputs,
    current_inputs,
    read_record,
    rebuild_reason,
    record_for,
)
from pipelines.lake.manifest import Feeds, Target, Unit
from pipelines.lake.parquet_files import canonical
from pipelines.lake.sorted_runs import Counted, merge, merge_key, read_run, write_run, write_runs
from pipelines.lake.spill import Spill
from pipelines.lake.store import Lake
from pipelines.memory import give_back

COMPACTED = "_compacted"
MAX_PASSES = 50
THREADS = 4  # each holds one folder's rows


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
    return current_inputs(lake, target, manifests=manifests, also=also)


def _rebuild(lake: Lake, target: Target, *, manifests: dict,
             feeders: Mapping[Target, set[Unit]], budget: Budget, scratch: str
             ) -> tuple[Compaction | None, Inputs | None]:
    record_path = lake.path(COMPACTED, f"{target.path}.json")
    folder = lake.path(target.table, target.folder)
    record = read_record(lake, record_path)
    inputs = current_inputs(lake, target, manifests=manifests,
                            also=record.units | feeders.get(target, set()))
    if inputs.problems:
        return _damaged(target, inputs.problems), inputs
    existing = lake.fingerprints(folder)
    if record.value == record_for(folder, list(inputs.paths), existing):
        return None, inputs
    why = rebuild_reason(record, list(inputs.paths), existing)
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
    lake.write_json(record_path, record_for(folder, list(inputs.paths), built.files))
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
        unit = Unit(*UNIT_IN_PATH.search(path).groups())
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
                        runs.append(write_run(final(pa.concat_tables(chunk)), tmp,
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
        runs.append(write_run(final(pa.concat_tables(chunk)), tmp, batch_bytes))
    del chunk
    key = merge_key(target)
    while len(runs) > FAN_IN:  # fewer, longer runs, FAN_IN at a time
        groups = [runs[i:i + FAN_IN] for i in range(0, len(runs), FAN_IN)]
        runs = []
        for group in groups:
            runs.append(write_runs(merge([read_run(p) for p in group], final, key), tmp,
                                   batch_bytes))
            for p in group:
                os.unlink(p)
    kept = Counted(merge([read_run(p) for p in runs], final, key))
    files = lake.write_parts(folder, kept, _sort_key(target), tmp)
    return _Built(files, read, kept.rows)


def _damaged(target: Target, problems: tuple[StagingProblem, ...]) -> Compaction:
    return Compaction(target, [], 0, 0, written=False, problems=problems,
                      reason="left as it was: " + "; ".join(p.sentence for p in problems))


def _decode(lake: Lake, target: Target, paths: list[str], data: list[bytes],
            manifests: dict) -> tuple[pa.Table, tuple[StagingProblem, ...]]:
    """The rows of a folder's staging files, each checked against what its manifest
    recorded (readable Parquet, its size and row count)."""
    schema, tables, problems = schema_of(target), [], []
    for path, body in zip(paths, data):
        unit = Unit(*UNIT_IN_PATH.search(path).groups())
        manifest = manifests.get(unit)
        facts = manifest.facts.get(target.path) if manifest else None
        rows, why = read_staging(body, schema, facts)
        if why:
            problems.append(StagingProblem(target, unit, lake.display(path), why,
                                           manifest.source if manifest else ""))
        tables.append(rows)
    rows = pa.concat_tables(tables) if tables else schema.empty_table()
    return rows, tuple(problems)


def _final(target: Target, rows: pa.Table) -> pa.Table:
    if target.table == "access_logs":
        return canonical(rows)
    if not rows.num_rows:
        return rows
    return rows.take(pc.sort_indices(rows, [("source_key", "ascending"),
                                            ("line_number", "ascending")]))
