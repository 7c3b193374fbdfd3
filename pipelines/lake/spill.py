"""Parsed rows on local disk until a run commits them, so memory holds one fetch batch and
one staging file at a time, never a whole run.

Each run's folder lives under the system's temporary folder (`s3logs-spill/`), is named
after its owner (`PID@HOST-…`) and holds a lock for as long as the run lives; the kernel
releases it when the process dies, even by `kill -9`. Every run first removes what killed
runs left behind: a folder whose owner is a process of this host that is gone, at once
(locked or not yet: a run killed before taking its lock leaves an empty folder); one whose
lock is free and whose owner cannot be asked (another host) or whose id a new process
reuses, once it is old.
"""

from __future__ import annotations

import fcntl
import shutil
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather

from pipelines.lake.manifest import Target, Unit
from pipelines.lake.owner import Owner

ROOT = Path(tempfile.gettempdir()) / "s3logs-spill"
LOCK = ".lock"
YOUNG_SECONDS = 600  # a folder with a free lock (or none yet) is being created, if this new


class Spill:
    def __init__(self, root: Path = ROOT, young_seconds: float = YOUNG_SECONDS) -> None:
        root.mkdir(parents=True, exist_ok=True)
        clean_stale(root, young_seconds)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{Owner.me().tag}-", dir=root))
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


def clean_stale(root: Path = ROOT, young_seconds: float = YOUNG_SECONDS) -> list[Path]:
    """Remove the spill folders of runs that are gone; the folders removed."""
    removed = []
    for folder in root.iterdir() if root.exists() else ():
        try:
            if _gone(folder, young_seconds):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
        except FileNotFoundError:
            continue  # another run removed it first
    return removed


def _gone(folder: Path, young_seconds: float) -> bool:
    """A held lock means a live run. Otherwise a dead owner of this host means gone; a
    live one (or one that cannot be asked) means gone only once the folder is old: a run
    creates its folder, then takes the lock, and a process id is reused in time."""
    lock = folder / LOCK
    if lock.exists() and _held(lock):
        return False
    owner = _owner(folder.name)
    if owner is not None and owner.gone():
        return True
    return time.time() - folder.stat().st_mtime > young_seconds


def _held(lock: Path) -> bool:
    try:
        with open(lock) as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True  # a live run holds it
    except FileNotFoundError:
        return False
    return False


def _owner(name: str) -> Owner | None:
    """`PID@HOST-…`, or `PID-…` as earlier versions named it (always this host: the
    spill is in the local temporary folder)."""
    tag = name.rsplit("-", 1)[0]
    if tag.isdigit():
        return Owner(int(tag), Owner.me().host)
    return Owner.parse(tag)
