"""Units: each one source's log objects of one day, committed by versioned manifests.

A run never rewrites what another run may be writing. It writes the unit's rows for each
folder they feed to new staging files of its own (`_staging/TARGET/UNIT/vN-RUN.parquet`),
then commits by creating manifest version N (`_manifests/UNIT/vN.json`) with a write that
succeeds only if that version does not exist yet. Of two runs committing the same unit,
one wins; the other finds the newer version, folds its objects in and tries N+1. A run
killed before its commit leaves only staging files no manifest names, removed by a later
commit of the unit. What readers see is rebuilt from committed staging (pipelines.compact).
"""

from __future__ import annotations

import re
import uuid

import pyarrow as pa
import pyarrow.compute as pc

from .lake import LAKE_SCHEMA, Lake, json_bytes, parquet_bytes
from .logformat import REJECT_SCHEMA
from .manifest import Manifest, Target, Unit

MANIFESTS, STAGING = "_manifests", "_staging"
_VERSION = re.compile(r"v(\d{6})\.json$")
_STAGED = re.compile(r"v(\d{6})-([0-9a-f]+)\.parquet$")
_LEGACY = re.compile(r"/source=([0-9a-f]+)/day=([0-9-]{10})\.json$")
MARKER, LAKE_FORMAT = "_lake.json", {"format": 2}


class CommitError(RuntimeError):
    """A unit could not be committed (other runs kept committing it first)."""


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def schema_of(target: Target) -> pa.Schema:
    return LAKE_SCHEMA if target.table == "access_logs" else REJECT_SCHEMA


def current(lake: Lake, unit: Unit) -> Manifest | None:
    """The unit's latest committed manifest (None if nothing was ever committed)."""
    versions = _versions(lake, unit)  # never deleted: the last one listed is there
    return Manifest.from_json(lake.read_json(versions[-1])) if versions else None


def _versions(lake: Lake, unit: Unit) -> list[str]:
    return sorted(p for p in lake.find(lake.path(MANIFESTS, unit.path)) if _VERSION.search(p))


def commit(lake: Lake, unit: Unit, manifest: Manifest) -> bool:
    """Create the manifest's version; False if another run created it first."""
    path = lake.path(MANIFESTS, unit.path, f"v{manifest.version:06d}.json")
    lake.put_new(path, json_bytes(manifest.as_json()))
    # Whose version it is, the file says: our own PUT, retried after a lost answer, is
    # refused as if another run had won, and some S3-compatible stores check
    # If-None-Match apart from the write.
    return (lake.read_json(path) or {}).get("run") == manifest.run


def stage(lake: Lake, target: Target, unit: Unit, version: int, run: str,
          table: pa.Table) -> str:
    """Write the unit's rows for `target` to a new staging file; its name."""
    name = f"v{version:06d}-{run}.parquet"
    lake.put(staging_path(lake, target, unit, name), parquet_bytes(table, sort_key=None))
    return name


def staging_path(lake: Lake, target: Target, unit: Unit, name: str) -> str:
    return lake.path(STAGING, target.table, target.folder, unit.path, name)


def staged_rows(lake: Lake, manifest: Manifest | None, unit: Unit, target: Target,
                without: set[str] = frozenset()) -> pa.Table:
    """The unit's committed rows for `target`, less those of the objects in `without`."""
    name = manifest.staging.get(target.path) if manifest else None
    schema = schema_of(target)
    if not name:
        return schema.empty_table()
    rows = lake.read_table([staging_path(lake, target, unit, name)], schema)
    if without and rows.num_rows:
        rows = rows.filter(pc.invert(pc.is_in(rows["source_key"],
                                              value_set=pa.array(sorted(without)))))
    return rows


def collect_garbage(lake: Lake, unit: Unit, kept: Manifest, targets: set[Target]) -> None:
    """After a commit: remove the unit's staging files in `targets` that the kept version
    does not name and that no later run can commit (version at most the kept one: what a
    killed or beaten run left). Manifest versions stay: they are small, they are the
    unit's history, and a version number is never used twice."""
    named = {staging_path(lake, Target(*t.split("/", 1)), unit, name)
             for t, name in kept.staging.items()}
    for target in targets:
        for path in lake.find(lake.path(STAGING, target.table, target.folder, unit.path)):
            m = _STAGED.search(path)
            if m and int(m.group(1)) <= kept.version and path not in named:
                lake.delete(path)


def migrate(lake: Lake) -> int:
    """Give every unit ingested before staging existed its version 1, at once, before any
    rebuild: a rebuild keeps only committed staging, so a folder fed by one migrated unit
    and one that is not yet would lose the latter's rows. Each visible folder is read
    once and its rows split by the unit whose object they came from. Safe to run twice
    at once or after a kill (a unit with a version is left alone; the legacy manifests go
    only once all are committed). Returns how many units it migrated."""
    marker = lake.path(MARKER)
    if lake.read_json(marker) == LAKE_FORMAT:
        return 0
    found = lake.find(lake.path(MANIFESTS))
    if not found:
        return 0  # a new lake: nothing to migrate, and nothing written by a run that fails
    legacy = {Unit(*m.groups()): path for path in found if (m := _LEGACY.search(path))}
    manifests = {unit: Manifest.from_json(lake.read_json(path))
                 for unit, path in sorted(legacy.items()) if not _versions(lake, unit)}
    run, owner = new_run_id(), {url: u for u, m in manifests.items() for url in m.objects}
    targets = sorted({Target.records(p) for m in manifests.values()
                      for e in m.objects.values() for p in e.partitions}
                     | set(map(Target.quarantine, manifests)))
    for target in targets:
        rows = lake.read_table(lake.parts(lake.path(target.table, target.folder)),
                               schema_of(target))
        keys = pc.unique(rows["source_key"]).to_pylist() if rows.num_rows else []
        for unit in sorted({owner[k] for k in keys if k in owner}):
            mine = [k for k in keys if owner.get(k) == unit]
            manifests[unit].staging[target.path] = stage(
                lake, target, unit, 1, run,
                rows.filter(pc.is_in(rows["source_key"], value_set=pa.array(mine))))
    for unit, manifest in manifests.items():
        manifest.version, manifest.run = 1, run
        commit(lake, unit, manifest)  # or another migration did: both are the same rows
    lake.delete(*legacy.values())
    lake.put_new(marker, json_bytes(LAKE_FORMAT))
    return len(manifests)
