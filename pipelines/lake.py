"""The Parquet lake: hive-partitioned records, quarantine and manifests, written atomically.

Layout (a stable contract):
    LAKE/access_logs/dt=YYYY-MM-DD/bucket=SOURCE_BUCKET/part-00000.parquet
    LAKE/quarantine/dt=YYYY-MM-DD/source=SOURCE_ID/part-00000.parquet
    LAKE/_manifests/source=SOURCE_ID/day=YYYY-MM-DD.json

`dt` is the UTC event date of the record and `bucket` its source bucket; both live in the
path only. A partition is always rewritten whole, as a pure function of the rows it holds:
rows of the re-ingested objects are replaced, duplicates (same record_id) are kept once
(the copy with the smallest source_key, line_number), rows are sorted by
(request_time, record_id), and files are named part-NNNNN. So the same inputs give
byte-identical files, and a crashed run re-run gives the lake it would have given.
Each file is written to a hidden temporary name and renamed (locally) or PUT in one request
(on S3), so readers never see a partial file.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .layout import bucket_name_problem
from .logformat import RECORD_SCHEMA, REJECT_SCHEMA, field_docs, reject_docs
from .manifest import Manifest, PartitionKey
from .storage import Location, resolve

LAKE_SCHEMA = RECORD_SCHEMA.remove(RECORD_SCHEMA.get_field_index("bucket"))
# What a reader of the lake sees: the file columns plus the hive partitions.
PARTITIONED_SCHEMA = LAKE_SCHEMA.append(pa.field("dt", pa.string())).append(
    pa.field("bucket", pa.string()))


@dataclass(frozen=True)
class LakeTable:
    """A table of the lake as readers see it: its folder, columns (hive partitions
    included, as text) and their documentation."""

    name: str
    folder: str
    schema: pa.Schema
    doc: str
    docs: dict[str, str]


LAKE_TABLES = {t.name: t for t in (
    LakeTable("lake_access_logs", "access_logs", PARTITIONED_SCHEMA,
              "The lake's records as stored, without derived columns (see access_logs).",
              {**field_docs(), "dt": "UTC event date of the request, YYYY-MM-DD (partition).",
               "bucket": "Source bucket (partition)."}),
    LakeTable("quarantine", "quarantine", REJECT_SCHEMA.append(pa.field("dt", pa.string()))
              .append(pa.field("source", pa.string())),
              "Lines that did not parse, with their raw bytes, object key, line number and "
              "reason.",
              {**reject_docs(), "dt": "The day the log object was filed under (partition).",
               "source": "The log source, as the hash of its URL (partition)."}),
)}
MAX_ROWS_PER_FILE = 4_000_000
ROW_GROUP_ROWS = 128 * 1024


@dataclass
class PartitionWrite:
    key: PartitionKey
    rows: int
    duplicates_dropped: int
    files: list[str]


class Lake:
    def __init__(self, url: str, endpoint: str | None = None,
                 max_rows_per_file: int = MAX_ROWS_PER_FILE) -> None:
        self.url = url
        self.loc: Location = resolve(url.rstrip("/") + "/", endpoint)
        self.max_rows_per_file = max_rows_per_file

    @property
    def fs(self):
        return self.loc.fs

    @property
    def counts(self):
        return self.loc.counts

    def path(self, *parts: str) -> str:
        return self.loc.join(*parts)

    def partition_dir(self, key: PartitionKey) -> str:
        problem = bucket_name_problem(key.bucket)
        if problem:  # callers quarantine such records; this is the last line of defence
            raise ValueError(problem)
        return self.path("access_logs", key.path)

    # -- records -------------------------------------------------------------------------

    def rebuild_partition(self, key: PartitionKey, new: list[pa.Table],
                          replaced: set[str]) -> PartitionWrite:
        """Rewrite one partition: its current rows minus those of `replaced` objects,
        plus `new` rows (LAKE_SCHEMA), deduplicated and sorted."""
        folder = self.partition_dir(key)
        parts = self._parts(folder)
        current = self._read(parts, LAKE_SCHEMA)
        if replaced and current.num_rows:
            gone = pc.is_in(current["source_key"], value_set=pa.array(sorted(replaced)))
            current = current.filter(pc.invert(gone))
        merged = pa.concat_tables([current, *new]) if new else current
        table = canonical(merged)
        files = self._replace(folder, parts, table, sort_key="request_time")
        return PartitionWrite(key, table.num_rows, merged.num_rows - table.num_rows, files)

    # -- quarantine ----------------------------------------------------------------------

    def rebuild_quarantine(self, day: str, source_id: str, new: pa.Table,
                           replaced: set[str]) -> list[str]:
        folder = self.path("quarantine", f"dt={day}", f"source={source_id}")
        parts = self._parts(folder)
        current = self._read(parts, REJECT_SCHEMA)
        if replaced and current.num_rows:
            gone = pc.is_in(current["source_key"], value_set=pa.array(sorted(replaced)))
            current = current.filter(pc.invert(gone))
        table = pa.concat_tables([current, new.cast(REJECT_SCHEMA)])
        if table.num_rows:
            table = table.take(pc.sort_indices(table, [("source_key", "ascending"),
                                                       ("line_number", "ascending")]))
        return self._replace(folder, parts, table, sort_key=None)

    # -- model results -------------------------------------------------------------------

    def replace_table_partition(self, parts: list[str], table: pa.Table) -> list[str]:
        """Replace one partition folder of a derived table (`marts/<model>/dt=...`) with
        `table`, already in its final order; an empty table removes the partition's files."""
        folder = self.path(*parts)
        return self._replace(folder, self._parts(folder), table, sort_key=None)

    # -- manifests -----------------------------------------------------------------------

    def manifest_path(self, source_id: str, day: str) -> str:
        return self.path("_manifests", f"source={source_id}", f"day={day}.json")

    def read_manifest(self, source_id: str, day: str) -> Manifest | None:
        found = self.read_json(self.manifest_path(source_id, day))
        return Manifest.from_json(found) if found else None

    def write_manifest(self, source_id: str, manifest: Manifest) -> None:
        self.write_json(self.manifest_path(source_id, manifest.day), manifest.as_json())

    def plan_path(self, source_id: str, day: str) -> str:
        return self.path("_plans", f"source={source_id}", f"day={day}.json")

    def write_json(self, path: str, value: dict) -> None:
        self._put(path, json.dumps(value, indent=1, sort_keys=True).encode() + b"\n")

    def read_json(self, path: str) -> dict | None:
        try:
            with self.fs.open(path, "rb") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    # -- reading -------------------------------------------------------------------------

    def dataset(self, table: str = "access_logs", schema: pa.Schema | None = None
                ) -> ds.Dataset:
        """A lake folder as an Arrow dataset with its hive partition columns. Given the
        `schema` (partition columns included, as text), no file is opened to find it."""
        root = self.path(table)
        if not self.fs.exists(root):
            raise FileNotFoundError(f"{self.loc.display(root)} does not exist yet: ingest first")
        partitioning = "hive"
        if schema is not None:
            keys = [f for f in schema if f.name in ("dt", "bucket", "source")]
            partitioning = ds.partitioning(pa.schema(keys), flavor="hive")
        return ds.dataset(root, filesystem=self.fs, format="parquet", schema=schema,
                          partitioning=partitioning, exclude_invalid_files=False)

    def files(self, table: str = "access_logs") -> list[str]:
        root = self.path(table)
        return sorted(p for p in self.fs.find(root) if p.endswith(".parquet")) \
            if self.fs.exists(root) else []

    # -- internals -----------------------------------------------------------------------

    def _read(self, parts: list[str], schema: pa.Schema) -> pa.Table:
        tables = []
        for p in parts:
            with self.fs.open(p, "rb") as f:
                tables.append(pq.read_table(f, schema=schema))
        return pa.concat_tables(tables) if tables else schema.empty_table()

    def _parts(self, folder: str) -> list[str]:
        try:
            names = self.fs.ls(folder, detail=False)
        except FileNotFoundError:
            return []
        self.loc.count_local("LIST")
        return sorted(n for n in names if os.path.basename(n).startswith("part-")
                      and n.endswith(".parquet"))

    def _replace(self, folder: str, old: list[str], table: pa.Table,
                 sort_key: str | None) -> list[str]:
        """Write `table` as part-00000.parquet, part-00001.parquet... then delete the `old`
        part files beyond them."""
        written = []
        for i, lo in enumerate(range(0, table.num_rows, self.max_rows_per_file)):
            path = f"{folder}/part-{i:05d}.parquet"
            self._put(path, parquet_bytes(table.slice(lo, self.max_rows_per_file), sort_key))
            written.append(path)
        for stale in sorted(set(old) - set(written)):
            self.fs.rm(stale)
            self.loc.count_local("DELETE")
        return written

    def _put(self, path: str, data: bytes) -> None:
        self.loc.count_local("PUT")
        if self.loc.is_s3:
            self.fs.pipe_file(path, data)  # one PUT: visible whole or not at all
            return
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)


def canonical(table: pa.Table) -> pa.Table:
    """One row per record_id (the one with the smallest source_key, line_number), sorted by
    (request_time, record_id): a pure function of the set of rows, whatever their order."""
    if table.num_rows == 0:
        return table
    table = table.take(pc.sort_indices(table, [("record_id", "ascending"),
                                               ("source_key", "ascending"),
                                               ("line_number", "ascending")]))
    ids = table["record_id"].combine_chunks()
    raw = np.frombuffer(ids.buffers()[1], dtype="V16", count=len(ids) + ids.offset)[ids.offset:]
    first = np.ones(len(raw), dtype=bool)
    first[1:] = raw[1:] != raw[:-1]
    if not first.all():
        table = table.filter(pa.array(first))
    return table.take(pc.sort_indices(table, [("request_time", "ascending"),
                                              ("record_id", "ascending")]))


def parquet_bytes(table: pa.Table, sort_key: str | None) -> bytes:
    """Deterministic Parquet (zstd): the same table always gives the same bytes."""
    sink = io.BytesIO()
    sorting = ([pq.SortingColumn(table.schema.get_field_index(sort_key))]
               if sort_key else None)
    pq.write_table(table, sink, compression="zstd", row_group_size=ROW_GROUP_ROWS,
                   sorting_columns=sorting, write_statistics=True)
    return sink.getvalue()
