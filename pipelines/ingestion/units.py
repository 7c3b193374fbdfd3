"""Units: each one source's log objects of one day, committed by versioned manifests.

A run never rewrites what another run may be writing. It writes the unit's rows for each
folder they feed to new staging files of its own (`_staging/TARGET/UNIT/vN-RUN.parquet`),
then commits by creating manifest version N (`_manifests/UNIT/vN.json`) with a write that
succeeds only if that version does not exist yet. Of two runs committing the same unit,
one wins; the other finds the newer version, folds its objects in and tries N+1. A run
killed before its commit leaves only staging files no manifest names, removed by a later
commit of the unit. What readers see is rebuilt from committed staging (pipelines.lake.compact).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.lake.manifest import Feeds, Manifest, Staged, StagingFacts, Target, Unit
from pipelines.lake.parquet_files import decode, row_groups
from pipelines.lake.reader import LakeMetadataError, unreadable
from pipelines.lake.store import LAKE_SCHEMA, Lake, json_bytes
from pipelines.parsing.logformat import REJECT_SCHEMA

MANIFESTS, STAGING = "_manifests", "_staging"
T = TypeVar("T")
_VERSION = re.compile(r"v(\d{6})\.json$")
_STAGED = re.compile(r"v(\d{6})-([0-9a-f]+)\.parquet$")
_LEGACY = re.compile(r"/source=([0-9a-f]+)/day=([0-9-]{10})\.json$")
MARKER, LAKE_FORMAT = "_lake.json", {"format": 2}
STAGING_GROUP_ROWS = 32 * 1024  # rows of a staging file's row group: what a reader holds
READ_BATCH_ROWS = 16 * 1024     # rows read from a staging file at a time, at most


class CommitError(RuntimeError):
    """A unit could not be committed (other runs kept committing it first)."""


MANIFEST_ADVICE = ("restore it from a backup of the lake, or delete it and ingest that day "
                   "again (the version before it is used, and what that one lacks is "
                   "ingested again)")
MARKER_ADVICE = ("delete it and run again (the next run checks every unit has a manifest "
                 "version and writes it anew)")


@dataclass(frozen=True)
class StagingProblem:
    """A committed staging file that is missing or damaged: the unit's rows for that
    folder are gone from the lake's inputs until the unit is ingested again."""

    target: Target
    unit: Unit
    file: str           # as a user can paste it
    why: str            # "is missing", "has 120 bytes where its manifest says 4,096"...
    source: str         # the unit's source URL, to say what to run

    @property
    def sentence(self) -> str:
        return f"staging file {self.file} {self.why}"


class StagingDamaged(Exception):
    """A unit's own committed staging file is missing or damaged: the unit is ingested
    again for those folders (pipelines.ingestion.ingest), from its log objects."""

    def __init__(self, problems: list[StagingProblem]) -> None:
        super().__init__("; ".join(p.sentence for p in problems))
        self.problems = problems


class StagingLost(OSError):
    """A damaged staging file cannot be rebuilt from its log objects; one sentence."""


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def schema_of(target: Target) -> pa.Schema:
    return LAKE_SCHEMA if target.table == "access_logs" else REJECT_SCHEMA


def current(lake: Lake, unit: Unit) -> Manifest | None:
    """The unit's latest committed manifest (None if nothing was ever committed).
    LakeMetadataError, naming the file, if it is not a manifest: it decides which rows
    the lake holds, so no run guesses."""
    return _latest(lake, unit, Manifest.from_json)


def current_feeds(lake: Lake, unit: Unit) -> Feeds | None:
    """What the unit's latest committed manifest says it feeds (`current`, without its
    entry per log object): what rebuilds read."""
    return _latest(lake, unit, Feeds.from_json)


def _latest(lake: Lake, unit: Unit, parse: Callable[[dict], T]) -> T | None:
    for path in reversed(_versions(lake, unit)):  # never deleted by a run
        manifest = read_manifest(lake, path, parse)
        if manifest is not None:
            return manifest
    return None


def read_manifest(lake: Lake, path: str, parse: Callable[[dict], T] = Manifest.from_json
                  ) -> T | None:
    """The manifest in `path` (None if there is no such file), its shape checked."""
    value = lake.read_object(path, MANIFEST_ADVICE)
    if value is None:
        return None
    try:
        return parse(value)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise LakeMetadataError(lake.display(path), f"is not a manifest this version can "
                                f"read ({unreadable(e)})", MANIFEST_ADVICE) from e


def _versions(lake: Lake, unit: Unit) -> list[str]:
    return sorted(p for p in lake.find(lake.path(MANIFESTS, unit.path)) if _VERSION.search(p))


def commit(lake: Lake, unit: Unit, manifest: Manifest) -> bool:
    """Create the manifest's version; False if another run created it first."""
    path = lake.path(MANIFESTS, unit.path, f"v{manifest.version:06d}.json")
    lake.put_new(path, json_bytes(manifest.as_json()))
    # Whose version it is, the file says: our own PUT, retried after a lost answer, is
    # refused as if another run had won, and some S3-compatible stores check
    # If-None-Match apart from the write.
    return (lake.read_object(path, MANIFEST_ADVICE) or {}).get("run") == manifest.run


def stage(lake: Lake, target: Target, unit: Unit, version: int, run: str,
          rows: pa.Table | Iterable[pa.Table], scratch: str | None = None) -> Staged | None:
    """Write the unit's rows for `target` (a table, or tables pulled one at a time, never
    all held) to a new staging file; its name and what it holds (kept in the manifest,
    so a damaged file is told from its listing), or None, and no file, if no rows.
    `scratch`: a folder of the run's own temporary space (used on S3)."""
    name = f"v{version:06d}-{run}.parquet"
    pieces = [rows] if isinstance(rows, pa.Table) else rows
    groups = (t for _, t in row_groups(pieces, STAGING_GROUP_ROWS, 1 << 62,
                                       contiguous=False))
    done = lake.write_parquet(staging_path(lake, target, unit, name), groups, None, scratch)
    return Staged(name, StagingFacts(done.size, done.rows)) if done else None


def staging_path(lake: Lake, target: Target, unit: Unit, name: str) -> str:
    return lake.path(STAGING, target.table, target.folder, unit.path, name)


def staged_rows(lake: Lake, manifest: Manifest | None, unit: Unit, target: Target,
                without: set[str] = frozenset(), scratch: str | None = None
                ) -> Iterator[pa.Table]:
    """The unit's committed rows for `target`, less those of the objects in `without`,
    a few thousand at a time. FileNotFoundError if the file is gone (a newer commit may
    have collected it: the caller tells), StagingDamaged if it is not what the manifest
    recorded (found reading it: the caller must not have used the rows before)."""
    name = manifest.staging.get(target.path) if manifest else None
    if not name:
        return
    path = staging_path(lake, target, unit, name)
    value_set = pa.array(sorted(without), pa.string())
    with open_staging(lake, path, scratch) as file:
        try:
            for rows in staging_batches(file, schema_of(target),
                                        manifest.facts.get(target.path)):
                if len(value_set):
                    rows = rows.filter(pc.invert(pc.is_in(rows["source_key"],
                                                          value_set=value_set)))
                yield rows
        except BadStaging as e:
            raise StagingDamaged([StagingProblem(target, unit, lake.display(path), str(e),
                                                 manifest.source)]) from e


class BadStaging(Exception):
    """What is wrong with a staging file, found reading it (`staging_batches`)."""


@contextlib.contextmanager
def open_staging(lake: Lake, path: str, scratch: str | None = None
                 ) -> Iterator[pa.NativeFile]:
    """A staging file opened to be read piece by piece: itself on a local lake (held
    open, so a newer commit collecting it meanwhile takes nothing away), else a copy
    downloaded into `scratch` (one GET; deleted after), or read whole without one.
    FileNotFoundError if it is gone."""
    if not lake.loc.is_s3:
        lake.loc.count_local("GET")
        with pa.OSFile(path) as file:
            yield file
        return
    if scratch is None:
        (data,) = lake.read_files([path])
        yield pa.BufferReader(data)
        return
    fd, local = tempfile.mkstemp(dir=scratch, suffix=".staging")
    os.close(fd)
    try:
        lake.fs.get_file(path, local)
        with pa.OSFile(local) as file:
            yield file
    finally:
        os.unlink(local)


def staging_batches(file: pa.NativeFile, schema: pa.Schema, facts: StagingFacts | None,
                    batch_bytes: int | None = None) -> Iterator[pa.Table]:
    """A staging file's rows (as `read_staging` reads them), a few thousand at a time
    (about `batch_bytes` decoded, as its metadata tells); BadStaging, saying why, when
    it is not what its manifest recorded (another size, unreadable: raised before or
    while its rows are read; other rows: after)."""
    size = file.size()
    if facts is not None and size != facts.size:
        raise BadStaging(size_problem(size, facts.size))
    n = 0
    try:
        reader = pq.ParquetFile(file)
        rows = READ_BATCH_ROWS
        meta = reader.metadata
        decoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if batch_bytes and decoded:
            rows = min(max(batch_bytes * meta.num_rows // decoded, 64), READ_BATCH_ROWS)
        for batch in reader.iter_batches(batch_size=rows, use_threads=False):
            n += batch.num_rows
            yield _conform(batch, schema)
    except (OSError, ValueError) as e:  # ArrowInvalid is a ValueError
        raise BadStaging(f"cannot be read as Parquet ({unreadable(e)})") from e
    if facts is not None and n != facts.rows:
        raise BadStaging(f"holds {n:,} rows where its manifest says {facts.rows:,}")


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.Table:
    """A batch read from a file as `decode` reads it given the schema: its columns by
    name, cast to the schema's types, null where the file has none."""
    names = set(batch.schema.names)
    return pa.Table.from_arrays(
        [batch.column(f.name).cast(f.type) if f.name in names else pa.nulls(len(batch), f.type)
         for f in schema], schema=schema)


def read_staging(data: bytes, schema: pa.Schema, facts: StagingFacts | None
                 ) -> tuple[pa.Table, str | None]:
    """A staging file's rows, and what is wrong with it if it is not what its manifest
    recorded (unreadable, another size, other rows)."""
    if facts is not None and len(data) != facts.size:
        return schema.empty_table(), size_problem(len(data), facts.size)
    try:
        rows = decode([data], schema)
    except (OSError, ValueError) as e:  # ArrowInvalid is a ValueError
        return schema.empty_table(), f"cannot be read as Parquet ({unreadable(e)})"
    if facts is not None and rows.num_rows != facts.rows:
        return rows, f"holds {rows.num_rows:,} rows where its manifest says {facts.rows:,}"
    return rows, None


def size_problem(size: int, expected: int) -> str:
    return f"has {size:,} bytes where its manifest says {expected:,}"


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
    if _lake_format(lake, marker) == LAKE_FORMAT:
        return 0
    found = lake.find(lake.path(MANIFESTS))
    if not found:
        return 0  # a new lake: nothing to migrate, and nothing written by a run that fails
    legacy = {Unit(*m.groups()): path for path in found if (m := _LEGACY.search(path))}
    manifests = {unit: read_manifest(lake, path)
                 for unit, path in sorted(legacy.items()) if not _versions(lake, unit)}
    manifests = {unit: m for unit, m in manifests.items() if m is not None}
    for manifest in manifests.values():
        manifest.staging, manifest.facts = {}, {}  # staged anew below
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
            manifests[unit].set_staged(target.path, stage(
                lake, target, unit, 1, run,
                rows.filter(pc.is_in(rows["source_key"], value_set=pa.array(mine)))))
    for unit, manifest in manifests.items():
        manifest.version, manifest.run = 1, run
        commit(lake, unit, manifest)  # or another migration did: both are the same rows
    lake.delete(*legacy.values())
    lake.put_new(marker, json_bytes(LAKE_FORMAT))
    return len(manifests)


def _lake_format(lake: Lake, marker: str) -> dict | None:
    """What `_lake.json` says (None: no marker yet); LakeMetadataError if it is not a
    format this version knows, since migrating again could not be right either."""
    value = lake.read_object(marker, MARKER_ADVICE)
    if value is None or value == LAKE_FORMAT:
        return value
    found = value.get("format")
    if isinstance(found, int) and not isinstance(found, bool) and \
            found > LAKE_FORMAT["format"]:
        raise LakeMetadataError(lake.display(marker), f"says lake format {found}, newer "
                                f"than this version's {LAKE_FORMAT['format']}",
                                "upgrade s3logs to write to this lake")
    raise LakeMetadataError(lake.display(marker), f"is not a lake format marker (it "
                            f"should hold {json.dumps(LAKE_FORMAT)})", MARKER_ADVICE)
