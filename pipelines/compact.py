"""Rebuild what readers see from what units committed.

A records partition (or a unit's quarantine) is a pure function of the committed staging
files of the units that feed it: their rows, deduplicated on record_id (the copy with the
smallest source_key, line_number kept), sorted, written deterministically. Any run may
rebuild any folder at any time, concurrently with others: each rebuild records the inputs
it used (`_compacted/TARGET.json`) and, after writing, checks that they are still the
current ones; if a unit committed meanwhile it rebuilds again. The last writer of a folder
therefore always wrote it from the current inputs, so concurrent runs converge to exactly
what one sequential run writes. A folder already built from the current inputs is left
alone (no write), which is what makes a re-run with nothing new cost no PUT.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from .lake import Lake, canonical
from .manifest import Target, Unit
from .units import STAGING, current, schema_of, staging_path

COMPACTED = "_compacted"
MAX_ROUNDS = 50
_UNIT = re.compile(r"/source=([0-9a-f]+)/day=([0-9-]{10})/")


class CompactionError(RuntimeError):
    """A folder kept changing under its rebuild; the next run finishes it."""


@dataclass(frozen=True)
class Compaction:
    target: Target
    files: list[str]          # written now (none if it was already current)
    rows: int
    duplicates_dropped: int


def compact(lake: Lake, target: Target) -> Compaction:
    """Bring `target` in line with the staging its units committed."""
    record = lake.path(COMPACTED, f"{target.path}.json")
    for _ in range(MAX_ROUNDS):
        inputs = _inputs(lake, target)
        if (lake.read_json(record) or {}).get("inputs") == inputs:
            return Compaction(target, [], -1, 0)
        try:
            rows = lake.read_table([lake.path(STAGING, target.table, target.folder, i)
                                    for i in inputs], schema_of(target))
        except FileNotFoundError:
            continue  # a newer commit collected one of them: read the inputs again
        kept = _final(target, rows)
        folder = lake.path(target.table, target.folder)
        files = lake.write_files(folder, kept, "request_time" if target.table ==
                                 "access_logs" else None)
        lake.write_json(record, {"inputs": inputs})
        if _inputs(lake, target) == inputs:
            return Compaction(target, files, kept.num_rows, rows.num_rows - kept.num_rows)
    raise CompactionError(f"{lake.display(lake.path(target.table, target.folder))} kept "
                          f"changing while it was rebuilt {MAX_ROUNDS} times: run again")


def _inputs(lake: Lake, target: Target) -> list[str]:
    """The committed staging files of the units that feed `target`, as paths under its
    staging folder: for each unit with staging there, the file its current manifest
    names (a unit whose current version no longer feeds the target has none)."""
    base = lake.path(STAGING, target.table, target.folder)
    units = {Unit(*m.groups()) for p in lake.find(base) if (m := _UNIT.search(p[len(base):]))}
    inputs = []
    for unit in sorted(units):
        manifest = current(lake, unit)
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
