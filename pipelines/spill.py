"""Parsed rows on local disk until a run commits them, so memory holds one fetch batch and
one staging file at a time, never a whole run.

Each run's folder lives under the system's temporary folder (`s3logs-spill/`) and holds
a lock for as long as the run lives; the kernel releases it when the process dies, even
by `kill -9`. Every run first removes the folders whose lock is free: what killed runs
left behind.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather

from .manifest import Target, Unit

ROOT = Path(tempfile.gettempdir()) / "s3logs-spill"
LOCK = ".lock"
YOUNG_SECONDS = 600  # a folder without its lock yet is being created, if it is this new


class Spill:
    def __init__(self, root: Path = ROOT) -> None:
        root.mkdir(parents=True, exist_ok=True)
        clean_stale(root)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=root))
        self._lock = open(self.folder / LOCK, "w")  # noqa: SIM115 - held for the run
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        self.pieces: dict[tuple[Unit, Target], list[Path]] = defaultdict(list)
        self.n = 0

    def add(self, unit: Unit, target: Target, table: pa.Table) -> None:
        """Rows of `unit` for `target` (records of a partition, or rejects)."""
        if not table.num_rows:
            return
        self.n += 1
        path = self.folder / f"{self.n}.arrow"
        feather.write_feather(table, path, compression="uncompressed")
        self.pieces[(unit, target)].append(path)

    def targets(self, unit: Unit) -> set[Target]:
        return {target for u, target in self.pieces if u == unit}

    def tables(self, unit: Unit, target: Target) -> list[pa.Table]:
        return [feather.read_table(p) for p in self.pieces.get((unit, target), [])]

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        self._lock.close()

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def clean_stale(root: Path = ROOT) -> list[Path]:
    """Remove the spill folders of runs that are gone; the folders removed. A folder is
    gone when its lock is free and its process (the folder name's prefix) is dead, or,
    without a lock yet, when it is old: another run may be creating it right now."""
    removed = []
    for folder in root.iterdir() if root.exists() else ():
        try:
            if _gone(folder):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        except FileNotFoundError:
            continue  # another run removed it first
    return removed


def _gone(folder: Path) -> bool:
    lock = folder / LOCK
    if not lock.exists():
        return time.time() - folder.stat().st_mtime > YOUNG_SECONDS
    with open(lock) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live run holds it
    pid = folder.name.split("-", 1)[0]
    return not (pid.isdigit() and _alive(int(pid)))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
