"""What a folder readers see is built from (pipelines.lake.compact): its units' committed
staging files, each checked in the listing against what its manifest recorded, and the
record of what its last rebuild used (`_compacted/TARGET.json`), which says whether the
folder is current and, if not, why it is rebuilt.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pipelines.ingestion.units import (
    STAGING,
    StagingProblem,
    current_feeds,
    size_problem,
    staging_path,
)
from pipelines.lake.manifest import Feeds, Target, Unit
from pipelines.lake.reader import unreadable
from pipelines.lake.store import Lake

NEW_ROWS = "its units committed other rows"  # the routine reason; the others self-heal
# The unit a staging file is of, in its path: the rebuild reads and checks files by it.
UNIT_IN_PATH = re.compile(r"/source=([0-9a-f]+)/day=([0-9-]{10})/")


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
                and (m := UNIT_IN_PATH.search("/" + p))}


def read_record(lake: Lake, path: str) -> _Record:
    """The record of a folder's last rebuild. It is only a cache of what the folder
    holds, so a damaged one is not an error: the folder is rebuilt and it is written anew.
    pipelines.lake.compact compares it with the folder's current inputs."""
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


def rebuild_reason(record: _Record, inputs: list[str], existing: dict[str, str]) -> str:
    """Why a folder is rebuilt, for the run's summary (the reason of the Compaction
    pipelines.lake.compact returns)."""
    if record.unreadable:
        return f"its record could not be read ({record.unreadable})"
    if record.value is None:  # a new folder has none yet: routine
        return "it had no record of what it was built from" if existing else NEW_ROWS
    if record.value.get("inputs") != inputs:
        return NEW_ROWS
    return ("its files were not the ones its last rebuild wrote (a writer killed "
            "mid-rebuild, or changed by hand)")


def record_for(folder: str, inputs: list[str], files: dict[str, str]) -> dict:
    """The record of a rebuild: the inputs it used and each file it wrote, with its
    fingerprint. pipelines.lake.compact writes it, and compares it with the record read
    to tell a folder that is current."""
    return {"inputs": inputs,
            "files": {path[len(folder) + 1:]: stamp for path, stamp in sorted(files.items())}}


def current_inputs(lake: Lake, target: Target, *, manifests: dict,
                   also: set[Unit] | frozenset[Unit] = frozenset()) -> Inputs:
    """The committed staging files of the units that feed `target`, as paths under its
    staging folder: for each unit with staging there (or in `also`), the file its current
    manifest names (a unit whose current version no longer feeds the target has none).
    Each is checked in the same listing: a file missing or of another size than its
    manifest recorded is a problem, once a fresh read of the manifest confirms it.
    pipelines.lake.compact reads them before it rebuilds a folder and after each pass."""
    base = lake.path(STAGING, target.table, target.folder)
    listing = lake.sizes(base)
    units = {Unit(*m.groups()) for p in listing if (m := UNIT_IN_PATH.search(p[len(base):]))}
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
