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
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from .lake import Lake, canonical, unreadable
from .manifest import Manifest, Target, Unit
from .units import (
    STAGING,
    StagingProblem,
    current,
    read_staging,
    schema_of,
    size_problem,
    staging_path,
)

COMPACTED = "_compacted"
MAX_PASSES = 50
THREADS = 4  # each holds one folder's rows
NEW_ROWS = "its units committed other rows"  # the routine reason; the others self-heal
_UNIT = re.compile(r"/source=([0-9a-f]+)/day=([0-9-]{10})/")


class Budget:
    """Bytes of working memory the rebuilding threads share: a folder waits until its
    estimate fits, so many small folders rebuild at once and a few huge ones one at a
    time (one alone always may, whatever its size)."""

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
EXPANSION = 12
MEMORY = Budget(256 << 20)


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
    staging folder), the ones found missing or damaged, and the units looked at."""

    paths: tuple[str, ...]
    problems: tuple[StagingProblem, ...]
    units: frozenset[Unit]

    def same(self, other: Inputs | None) -> bool:
        return other is not None and (self.paths, self.problems) == (other.paths,
                                                                     other.problems)


def compact(lake: Lake, targets: list[Target], threads: int = THREADS,
            feeders: Mapping[Target, set[Unit]] | None = None) -> dict[Target, Compaction]:
    """Bring each target in line with the staging its units committed. Folders are
    independent, so `threads` rebuild them at once (mostly waiting on storage, or in
    Arrow, which releases the GIL). `feeders` names units known to feed a target (the
    run's own): with the units its staging listing and its last record show, each one's
    committed file is checked there (present, of the size its manifest recorded); a
    folder with a missing or damaged input is left as it is and returned with the
    problems, never rebuilt without those rows."""
    done: dict[Target, Compaction] = {}
    pending = sorted(set(targets))
    feeders = feeders or {}
    with ThreadPoolExecutor(threads, thread_name_prefix="compact") as pool:
        for _ in range(MAX_PASSES):
            manifests: dict[Unit, Manifest | None] = {}  # read once per pass
            written: dict[Target, Inputs | None] = {}
            rebuilt = pool.map(partial(_rebuild, lake, manifests=manifests,
                                       feeders=feeders), pending)
            for target, (result, inputs) in zip(pending, rebuilt):
                if result is not None:
                    done[target] = result
                    if not result.problems:
                        written[target] = inputs
            fresh: dict[Unit, Manifest | None] = {}  # after every write of the pass
            now = pool.map(partial(_recheck, lake, manifests=fresh, feeders=feeders),
                           written, written.values())
            pending = [t for t, inputs in zip(written, now) if not inputs.same(written[t])]
            if not pending:
                return done
    raise CompactionError(f"{len(pending)} lake folders kept changing while they were "
                          f"rebuilt {MAX_PASSES} times (e.g. {pending[0].path}): run again")


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
             feeders: Mapping[Target, set[Unit]]) -> tuple[Compaction | None, Inputs | None]:
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
    try:
        data = lake.read_files(paths)
    except FileNotFoundError:  # a newer commit collected one: the next pass reads again
        return Compaction(target, [], 0, 0, written=False), None
    with MEMORY.hold(EXPANSION * sum(map(len, data))):
        rows, problems = _decode(lake, target, paths, data, manifests)
        if problems:  # found only by reading it whole: left as it is, like a missing one
            return _damaged(target, problems), replace(inputs, problems=problems)
        kept = _final(target, rows)
        files = lake.write_files(folder, kept,
                                 "request_time" if target.table == "access_logs" else None)
    lake.write_json(record_path, _record(folder, list(inputs.paths), files))
    return Compaction(target, list(files), kept.num_rows, rows.num_rows - kept.num_rows,
                      reason=why), inputs


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
    paths, problems = [], []
    for unit in sorted(units | set(also)):
        if unit not in manifests:
            manifests[unit] = current(lake, unit)
        name, problem = _check(lake, target, unit, manifests[unit], listing)
        if problem is not None:
            name, problem = _confirm(lake, target, unit, manifests)
        if problem is not None:
            problems.append(problem)
        elif name:
            paths.append(staging_path(lake, target, unit, name)[len(base) + 1:])
    return Inputs(tuple(paths), tuple(problems), frozenset(units | set(also)))


def _check(lake: Lake, target: Target, unit: Unit, manifest: Manifest | None,
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
    fresh = manifests[unit] = current(lake, unit)
    folder = lake.path(STAGING, target.table, target.folder, unit.path)
    name, problem = _check(lake, target, unit, fresh, lake.sizes(folder))
    if problem is None:
        return name, None
    again = current(lake, unit)
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
