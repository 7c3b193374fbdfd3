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

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import pyarrow as pa
import pyarrow.compute as pc

from .lake import Lake, canonical, decode
from .manifest import Manifest, Target, Unit
from .units import STAGING, current, schema_of, staging_path

COMPACTED = "_compacted"
MAX_PASSES = 50
THREADS = 4  # each holds one folder's rows
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


def compact(lake: Lake, targets: list[Target], threads: int = THREADS
            ) -> dict[Target, Compaction]:
    """Bring each target in line with the staging its units committed. Folders are
    independent, so `threads` rebuild them at once (mostly waiting on storage, or in
    Arrow, which releases the GIL)."""
    done: dict[Target, Compaction] = {}
    pending = sorted(set(targets))
    with ThreadPoolExecutor(threads, thread_name_prefix="compact") as pool:
        for _ in range(MAX_PASSES):
            manifests: dict[Unit, Manifest | None] = {}  # read once per pass
            written = {}
            rebuilt = pool.map(partial(_rebuild, lake, manifests=manifests), pending)
            for target, (result, inputs) in zip(pending, rebuilt):
                if result is not None:
                    done[target] = result
                    written[target] = inputs
            fresh: dict[Unit, Manifest | None] = {}  # after every write of the pass
            now = pool.map(partial(_inputs, lake, manifests=fresh), written)
            pending = [t for t, inputs in zip(written, now) if inputs != written[t]]
            if not pending:
                return done
    raise CompactionError(f"{len(pending)} lake folders kept changing while they were "
                          f"rebuilt {MAX_PASSES} times (e.g. {pending[0].path}): run again")


def _rebuild(lake: Lake, target: Target, *, manifests: dict
             ) -> tuple[Compaction | None, list | None]:
    record = lake.path(COMPACTED, f"{target.path}.json")
    folder = lake.path(target.table, target.folder)
    inputs = _inputs(lake, target, manifests=manifests)
    if (lake.read_json(record) or {}) == _record(folder, inputs, lake.fingerprints(folder)):
        return None, inputs
    try:
        data = lake.read_files([lake.path(STAGING, target.table, target.folder, i)
                                for i in inputs])
    except FileNotFoundError:  # a newer commit collected one: the next pass reads again
        return Compaction(target, [], 0, 0), None
    with MEMORY.hold(EXPANSION * sum(map(len, data))):
        rows = decode(data, schema_of(target))
        kept = _final(target, rows)
        files = lake.write_files(folder, kept,
                                 "request_time" if target.table == "access_logs" else None)
    lake.write_json(record, _record(folder, inputs, files))
    return Compaction(target, list(files), kept.num_rows, rows.num_rows - kept.num_rows), \
        inputs


def _record(folder: str, inputs: list[str], files: dict[str, str]) -> dict:
    return {"inputs": inputs,
            "files": {path[len(folder) + 1:]: stamp for path, stamp in sorted(files.items())}}


def _inputs(lake: Lake, target: Target, *, manifests: dict) -> list[str]:
    """The committed staging files of the units that feed `target`, as paths under its
    staging folder: for each unit with staging there, the file its current manifest
    names (a unit whose current version no longer feeds the target has none)."""
    base = lake.path(STAGING, target.table, target.folder)
    units = {Unit(*m.groups()) for p in lake.find(base) if (m := _UNIT.search(p[len(base):]))}
    inputs = []
    for unit in sorted(units):
        if unit not in manifests:
            manifests[unit] = current(lake, unit)
        manifest = manifests[unit]
        name = manifest.staging.get(target.path) if manifest else None
        if name:
            inputs.append(staging_path(lake, target, unit, name)[len(base) + 1:])
    return inputs


def _final(target: Target, rows: pa.Table) -> pa.Table:
    if target.table == "access_logs":
        return canonical(rows)
    if not rows.num_rows:
        return rows
    return rows.take(pc.sort_indices(rows, [("source_key", "ascending"),
                                            ("line_number", "ascending")]))
