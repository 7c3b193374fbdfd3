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
from .manifest import Manifest, PartitionKey, Target, Unit

MANIFESTS, STAGING = "_manifests", "_staging"
_VERSION = re.compile(r"v(\d{6})\.json$")
_STAGED = re.compile(r"v(\d{6})-([0-9a-f]+)\.parquet$")


class CommitError(RuntimeError):
    """A unit could not be committed (other runs kept committing it first)."""


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def schema_of(target: Target) -> pa.Schema:
    return LAKE_SCHEMA if target.table == "access_logs" else REJECT_SCHEMA


def current(lake: Lake, unit: Unit) -> Manifest | None:
    """The unit's latest committed manifest (None if nothing was ever committed). A
    manifest from before versions is adopted on first sight (`adopt`)."""
    versions = sorted((int(m.group(1)), path) for path in lake.find(
        lake.path(MANIFESTS, unit.path)) if (m := _VERSION.search(path)))
    if versions:
        found = lake.read_json(versions[-1][1])
        if found is not None:
            return Manifest.from_json(found)
        return current(lake, unit)  # collected while we listed: look again
    legacy = lake.read_json(lake.path(MANIFESTS, f"source={unit.source_id}",
                                      f"day={unit.day}.json"))
    return adopt(lake, unit, Manifest.from_json(legacy)) if legacy else None


def commit(lake: Lake, unit: Unit, manifest: Manifest) -> bool:
    """Create the manifest's version; False if another run created it first."""
    path = lake.path(MANIFESTS, unit.path, f"v{manifest.version:06d}.json")
    if not lake.put_new(path, json_bytes(manifest.as_json())):
        return False
    # S3-compatible stores that check If-None-Match apart from the write can let two
    # writers through: the version read back says whose it is.
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
    """After a commit: remove the unit's older manifests, and its staging files in
    `targets` that the kept version does not name and that no later run can commit
    (version at most the kept one: what a killed or beaten run left)."""
    for path in lake.find(lake.path(MANIFESTS, unit.path)):
        m = _VERSION.search(path)
        if m and int(m.group(1)) < kept.version:
            lake.delete(path)
    named = {staging_path(lake, Target(*t.split("/", 1)), unit, name)
             for t, name in kept.staging.items()}
    for target in targets:
        for path in lake.find(lake.path(STAGING, target.table, target.folder, unit.path)):
            m = _STAGED.search(path)
            if m and int(m.group(1)) <= kept.version and path not in named:
                lake.delete(path)


def adopt(lake: Lake, unit: Unit, legacy: Manifest) -> Manifest:
    """Give a unit ingested before staging existed its version 1, from the rows the lake
    shows for its objects, so the next rebuild of its folders keeps them."""
    run, objects = new_run_id(), set(legacy.objects)
    legacy.version, legacy.run, legacy.staging = 1, run, {}
    partitions = {p for e in legacy.objects.values() for p in e.partitions}
    for target in [*map(Target.records, sorted(partitions)), Target.quarantine(unit)]:
        rows = _visible_rows(lake, target, objects)
        if rows.num_rows:
            legacy.staging[target.path] = stage(lake, target, unit, 1, run, rows)
    if commit(lake, unit, legacy):
        lake.delete(lake.path(MANIFESTS, f"source={unit.source_id}", f"day={unit.day}.json"))
        return legacy
    return current(lake, unit)  # another run adopted it first


def _visible_rows(lake: Lake, target: Target, objects: set[str]) -> pa.Table:
    schema = schema_of(target)
    rows = lake.read_table(lake.parts(lake.path(target.table, target.folder)), schema)
    return rows.filter(pc.is_in(rows["source_key"], value_set=pa.array(sorted(objects)))) \
        if rows.num_rows else rows


def partition_of(path: str) -> PartitionKey | None:
    """The records partition a path lies in, if any."""
    m = re.search(r"/dt=([0-9-]{10})/bucket=([^/]+)/", path)
    return PartitionKey(*m.groups()) if m else None


def unit_of(path: str) -> Unit | None:
    m = re.search(r"/source=([0-9a-f]+)/day=([0-9-]{10})/", path)
    return Unit(*m.groups()) if m else None

