"""The Parquet lake: where everything lives, and the ways of writing it safely.

Layout (what readers see is a stable contract):
    LAKE/access_logs/dt=YYYY-MM-DD/bucket=SOURCE_BUCKET/part-00000.parquet
    LAKE/quarantine/dt=YYYY-MM-DD/source=SOURCE_ID/part-00000.parquet
    LAKE/marts/MODEL/dt=YYYY-MM-DD/part-00000.parquet
and what the writers keep for themselves (pipelines.ingestion.units, pipelines.lake.compact):
    LAKE/_manifests/source=SOURCE_ID/day=YYYY-MM-DD/v000001.json      committed versions
    LAKE/_staging/TABLE/FOLDER/source=SOURCE_ID/day=YYYY-MM-DD/v000001-RUN.parquet
    LAKE/_compacted/TABLE/FOLDER.json                                   what a file holds

`dt` is the UTC event date of a record and `bucket` its source bucket; both live in the
path only. A visible file is a pure function of its rows (deduplicated, sorted, written
deterministically), so the same rows give the same bytes. Files are written to a hidden
temporary name and renamed (locally) or PUT in one request (on S3): readers never see a
partial file. `put_new` creates a file only if it does not exist yet (a hard link locally,
`If-None-Match: *` on S3): the one atomic step that lets runs commit without locks.
`write_parts` and `write_parquet` write rows given piece by piece, holding one row group
at a time and never a whole file: locally into the hidden temporary, on S3 into a file of
the run's own temporary space, then PUT (in parts when large).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from pipelines.ingestion.layout import bucket_name_problem
from pipelines.lake.manifest import PartitionKey
from pipelines.lake.storage import Location, resolve
from pipelines.parsing.logformat import RECORD_SCHEMA, REJECT_SCHEMA, field_docs, reject_docs

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
STALE_TEMPORARY_SECONDS = 3600  # a hidden .tmp this old is left by a killed writer
UPLOAD_PART_BYTES = 8 << 20  # a streamed file this large or larger goes to S3 in parts


class LakeWriteError(OSError):
    """Writing to the lake failed after the storage's own retries; one sentence."""

    def __init__(self, url: str, cause: BaseException) -> None:
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        super().__init__(f"could not write {url} ({reason}): check the lake's storage "
                         "(permissions, endpoint, free space) and run again; what earlier "
                         "runs committed is intact")


class LakeMetadataError(ValueError):
    """A file the writers keep (a manifest, `_lake.json`) cannot be read as what it must
    be; one sentence naming it and saying what to do (the CLI prints it, no traceback)."""

    def __init__(self, url: str, problem: str, what_to_do: str) -> None:
        super().__init__(f"{url} {problem}: {what_to_do}")
        self.url = url


def unreadable(e: BaseException) -> str:
    """What was wrong with a file, in a few words, from the error reading it raised."""
    first = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {first}"[:200] if first else type(e).__name__


@dataclass(frozen=True)
class Owner:
    """The process that made a leftover (a spill folder, a hidden temporary file), written
    into its name: on the same host a dead owner means the leftover can go at once;
    elsewhere (another host sharing the folder) only its age can tell."""

    pid: int
    host: str

    @staticmethod
    def me() -> Owner:
        return Owner(os.getpid(), _host())

    @property
    def tag(self) -> str:
        return f"{self.pid}@{self.host}"

    @staticmethod
    def parse(tag: str) -> Owner | None:
        m = _OWNER.fullmatch(tag)
        return Owner(int(m.group(1)), m.group(2)) if m else None

    def gone(self) -> bool:
        """True only when it is known dead: same host and no such process."""
        return self.host == _host() and not alive(self.pid)


_OWNER = re.compile(r"(\d+)@([A-Za-z0-9-]+)")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:63] or "host"


def alive(pid: int) -> bool:
    """Whether a process of this host has that id (someone else's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


@dataclass(frozen=True)
class Written:
    """A file `write_parquet` wrote: its fingerprint (as `put` returns), bytes and rows."""

    fingerprint: str
    size: int
    rows: int


class _Checked:
    """Whether the store was seen to refuse a second conditional create: once per lake,
    whichever of its twins (`Lake.twin`) commits first."""

    def __init__(self) -> None:
        self.done = False
        self.lock = threading.Lock()


class Lake:
    def __init__(self, url: str, endpoint: str | None = None,
                 max_rows_per_file: int = MAX_ROWS_PER_FILE) -> None:
        self.url = url
        self.endpoint = endpoint
        self.loc: Location = resolve(url.rstrip("/") + "/", endpoint)
        self.max_rows_per_file = max_rows_per_file
        self._checked = _Checked()

    def twin(self) -> Lake:
        """The same lake with requests counted apart (its own client on S3), for work
        running alongside others that must say what it asked for."""
        twin = Lake(self.url, self.endpoint, self.max_rows_per_file)
        twin._checked = self._checked
        return twin

    @property
    def fs(self):
        return self.loc.fs

    @property
    def counts(self):
        return self.loc.counts

    def path(self, *parts: str) -> str:
        return self.loc.join(*parts)

    def display(self, path: str) -> str:
        return self.loc.display(path)

    def partition_dir(self, key: PartitionKey) -> str:
        problem = bucket_name_problem(key.bucket)
        if problem:  # the parser rejects such records; this is the last line of defence
            raise ValueError(problem)
        return self.path("access_logs", key.path)

    # -- writing -------------------------------------------------------------------------

    def put(self, path: str, data: bytes) -> str:
        """Write a whole file, replacing it atomically; the fingerprint of what was written
        (as `fingerprints` will see it while no one else replaces it)."""
        try:
            return self._put(path, data)
        except (OSError, PermissionError) as e:
            raise LakeWriteError(self.display(path), e) from e

    def put_new(self, path: str, data: bytes) -> bool:
        """Create a file that must not exist yet; False if it does (someone else wrote it
        first, or our own retried request did: callers read it back). The check and the
        write are one atomic step."""
        if self.loc.is_s3 and not self._checked.done:
            with self._checked.lock:
                if not self._checked.done:
                    self._check_conditional_writes()
        return self._put_new(path, data)

    def _put_new(self, path: str, data: bytes) -> bool:
        self.loc.count_local("PUT")
        try:
            if self.loc.is_s3:
                self.fs.pipe_file(path, data, mode="create")
                return True
            tmp = self._temporary(path, data)
            try:
                os.link(tmp, path)
                return True
            finally:
                os.unlink(tmp)
        except FileExistsError:
            return False
        except OSError as e:
            code = getattr(e.__cause__, "response", {}).get("Error", {}).get("Code")
            if code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False  # 412, or 409: a concurrent conditional write of the same key
            raise LakeWriteError(self.display(path), e) from e

    def _check_conditional_writes(self) -> None:
        """Runs commit without locks only because the store refuses a second create of
        the same key (If-None-Match: *); one that ignores it would let them overwrite
        each other, so it is checked once, before the first commit."""
        probe = self.path("_probe", f"{uuid.uuid4().hex}.json")
        try:
            if self._put_new(probe, b"{}") and self._put_new(probe, b"{}"):
                raise LakeWriteError(self.display(probe), RuntimeError(
                    "the store ignores If-None-Match, which concurrent runs rely on; "
                    "use AWS S3 or a store that supports conditional writes"))
        finally:
            self.delete(probe)
        self._checked.done = True

    def delete(self, *paths: str) -> None:
        """Delete files; one already gone is fine."""
        for path in paths:
            self.loc.count_local("DELETE")
            with contextlib.suppress(FileNotFoundError):
                self.fs.rm(path)

    def write_json(self, path: str, value: dict) -> None:
        self.put(path, json_bytes(value))

    def read_json(self, path: str) -> dict | None:
        data = self.read_bytes(path)
        return None if data is None else json.loads(data)

    def read_object(self, path: str, what_to_do: str) -> dict | None:
        """A JSON object the writers keep, or None if the file does not exist;
        LakeMetadataError (naming the file, saying `what_to_do`) if it is not one."""
        data = self.read_bytes(path)
        if data is None:
            return None
        try:
            value = json.loads(data)
        except ValueError as e:  # JSONDecodeError, UnicodeDecodeError
            raise LakeMetadataError(self.display(path), f"is not valid JSON ({len(data):,} "
                                    f"bytes; {unreadable(e)})", what_to_do) from e
        if not isinstance(value, dict):
            raise LakeMetadataError(self.display(path), f"holds a JSON "
                                    f"{type(value).__name__}, not an object", what_to_do)
        return value

    def read_bytes(self, path: str) -> bytes | None:
        """A whole file in one GET (opening it would ask for its size first), or None."""
        self.loc.count_local("GET")
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None

    def read_table(self, paths: list[str], schema: pa.Schema) -> pa.Table:
        """The rows of these Parquet files (FileNotFoundError if one is gone)."""
        return decode(self.read_files(paths), schema)

    def read_files(self, paths: list[str]) -> list[bytes]:
        """The bytes of these files (FileNotFoundError if one is gone)."""
        out = []
        for p in paths:
            data = self.read_bytes(p)
            if data is None:
                raise FileNotFoundError(p)
            out.append(data)
        return out

    def write_files(self, folder: str, table: pa.Table, sort_key: str | None
                    ) -> dict[str, str]:
        """`table` as the folder's part-00000.parquet, part-00001.parquet... (its final
        order given), then the folder's other part files deleted; an empty table leaves
        the folder without files. Returns each file written with its fingerprint."""
        old = self.parts(folder)
        written = {}
        for i, lo in enumerate(range(0, table.num_rows, self.max_rows_per_file)):
            path = f"{folder}/part-{i:05d}.parquet"
            written[path] = self.put(path, parquet_bytes(
                table.slice(lo, self.max_rows_per_file), sort_key))
        self.delete(*sorted(set(old) - set(written)))
        return written

    def write_parts(self, folder: str, tables: Iterable[pa.Table], sort_key: str | None,
                    scratch: str | None = None) -> dict[str, str]:
        """`write_files` for rows given piece by piece, already in their final order: the
        same files, byte for byte, as `write_files` of their concatenation when it is one
        contiguous chunk (as `canonical` returns it), holding one row group at a time.
        `scratch` is a folder of the run's own temporary space (used on S3)."""
        old = self.parts(folder)
        written = {}
        groups = row_groups(tables, ROW_GROUP_ROWS, self.max_rows_per_file)
        slot = [next(groups, None)]  # the next row group, with its file's number
        while slot[0] is not None:
            path = f"{folder}/part-{slot[0][0]:05d}.parquet"
            done = self.write_parquet(path, _file_groups(groups, slot), sort_key, scratch)
            written[path] = done.fingerprint
        self.delete(*sorted(set(old) - set(written)))
        return written

    def write_parquet(self, path: str, groups: Iterable[pa.Table], sort_key: str | None,
                      scratch: str | None = None) -> Written | None:
        """Write a Parquet file (as `parquet_bytes` does) with one row group per table of
        `groups`, pulled one at a time, each let go before the next is asked for; None,
        and no file, if they hold no rows. What the tables' producer raises passes
        through; the file is then not written."""
        groups = iter(groups)
        first = [_next_rows(groups)]
        if first[0] is None:
            return None
        if not self.loc.is_s3:
            tmp = self._temporary_name(path)
            try:
                rows = self._write_groups(path, tmp, first, groups, sort_key)
                size = os.path.getsize(tmp)
                return Written(self._publish(path, tmp), size, rows)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        if scratch is None:
            sink = io.BytesIO()
            rows = self._write_groups(path, sink, first, groups, sort_key)
            data = sink.getvalue()
            return Written(self.put(path, data), len(data), rows)
        fd, local = tempfile.mkstemp(dir=scratch, suffix=".upload")
        os.close(fd)
        try:
            rows = self._write_groups(path, local, first, groups, sort_key)
            size = os.path.getsize(local)
            return Written(self._upload(path, local, size), size, rows)
        finally:
            os.unlink(local)

    def _write_groups(self, path: str, sink, first: list[pa.Table],
                      groups: Iterator[pa.Table], sort_key: str | None) -> int:
        """Write the row groups (`first`, taken out of its list, then `groups`) to `sink`
        (a local path or a file object); their rows."""
        writer, rows, table = None, 0, first.pop()
        try:
            while table is not None:
                try:
                    if writer is None:
                        writer = pq.ParquetWriter(sink, table.schema, **_parquet_options(
                            table.schema, sort_key))
                    writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
                except OSError as e:
                    raise LakeWriteError(self.display(path), e) from e
                rows += table.num_rows
                table = None  # let it go before the producer makes the next
                table = _next_rows(groups)  # the producer's errors pass as they are
        finally:
            if writer is not None:
                try:
                    writer.close()
                except OSError as e:
                    raise LakeWriteError(self.display(path), e) from e
        if isinstance(sink, str) and not self.loc.is_s3:
            fd = os.open(sink, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return rows

    def _publish(self, path: str, tmp: str) -> str:
        """Make a local hidden temporary file visible under its name; its fingerprint."""
        self.loc.count_local("PUT")
        try:
            stamp = _stamp(os.stat(tmp))
            os.replace(tmp, path)
        except OSError as e:
            raise LakeWriteError(self.display(path), e) from e
        return stamp

    def _upload(self, path: str, local: str, size: int) -> str:
        """PUT a local file to S3: in one request as `put` does, or in parts if large."""
        if size < 2 * UPLOAD_PART_BYTES:
            with open(local, "rb") as f:
                return self.put(path, f.read())
        try:
            self.fs.put_file(local, path, chunksize=UPLOAD_PART_BYTES)
            return self.fs.info(path)["ETag"].strip('"')
        except OSError as e:
            raise LakeWriteError(self.display(path), e) from e

    def replace_table_partition(self, parts: list[str], table: pa.Table) -> list[str]:
        """Replace one partition folder of a derived table (`marts/<model>/dt=...`)."""
        return list(self.write_files(self.path(*parts), table, sort_key=None))

    def clean_temporary_files(self, folder: str,
                              stale_seconds: float = STALE_TEMPORARY_SECONDS) -> int:
        """Remove the hidden temporary files killed writers left in `folder` (local lakes;
        S3 PUTs leave none): at once when the name says its writer was a process of this
        host that is gone, otherwise only old ones (a live writer renames its own in
        seconds; one on another host cannot be asked)."""
        if self.loc.is_s3 or not os.path.isdir(folder):
            return 0
        cutoff, removed = time.time() - stale_seconds, 0
        for root, _, names in os.walk(folder):
            for name in names:
                if not (name.startswith(".") and name.endswith(".tmp")):
                    continue
                path = os.path.join(root, name)
                owner = _temporary_owner(name)
                with contextlib.suppress(FileNotFoundError):  # its writer, or another run
                    if (owner is not None and owner.gone()) or \
                            os.path.getmtime(path) < cutoff:
                        os.unlink(path)
                        removed += 1
        return removed

    # -- reading -------------------------------------------------------------------------

    def dataset(self, table: str = "access_logs", schema: pa.Schema | None = None
                ) -> ds.Dataset:
        """A lake folder as an Arrow dataset with its hive partition columns. Given the
        `schema` (partition columns included, as text), no file is opened to find it."""
        root = self.path(table)
        if not self.fs.exists(root):
            raise FileNotFoundError(f"{self.display(root)} does not exist yet: ingest first")
        partitioning = "hive"
        if schema is not None:
            keys = [f for f in schema if f.name in ("dt", "bucket", "source")]
            partitioning = ds.partitioning(pa.schema(keys), flavor="hive")
        return ds.dataset(root, filesystem=self.fs, format="parquet", schema=schema,
                          partitioning=partitioning, exclude_invalid_files=False)

    def files(self, table: str = "access_logs") -> list[str]:
        """Every Parquet file under a folder of the lake (recursively)."""
        return sorted(p for p in self.find(self.path(table)) if p.endswith(".parquet"))

    def snapshot(self) -> dict[str, bytes]:
        """Every file readers see (records and quarantine), by path from the root: what two
        lakes must agree on, byte for byte, to be the same lake."""
        out = {}
        for table in ("access_logs", "quarantine"):
            for path in self.files(table):
                out[path[len(self.loc.path):]] = self.read_bytes(path)
        return out

    def sizes(self, folder: str) -> dict[str, int]:
        """Every file under `folder`, recursively, with its size, from one listing (what
        `find` asks for anyway); none if it does not exist."""
        self.loc.count_local("LIST")
        try:
            found = self.fs.find(folder, detail=True)
        except FileNotFoundError:
            return {}
        return {path: int(info.get("size") or 0) for path, info in sorted(found.items())
                if info.get("type", "file") == "file"}

    def find(self, folder: str) -> list[str]:
        """Every file under `folder`, recursively; none if it does not exist."""
        return list(self.sizes(folder))

    def parts(self, folder: str) -> list[str]:
        """The part-NNNNN.parquet files directly in `folder`."""
        return sorted(self.fingerprints(folder))

    def fingerprints(self, folder: str) -> dict[str, str]:
        """The part-NNNNN.parquet files directly in `folder`, each with what identifies the
        bytes it holds now: its ETag on S3; locally its size, mtime and inode, which the
        rename that made it visible kept."""
        self.loc.count_local("LIST")
        try:
            entries = self.fs.ls(folder, detail=True)
        except FileNotFoundError:
            return {}
        found = {}
        for e in entries:
            name = e["name"]
            if not (os.path.basename(name).startswith("part-") and name.endswith(".parquet")):
                continue
            try:
                found[name] = e["ETag"].strip('"') if self.loc.is_s3 else _stamp(os.stat(name))
            except FileNotFoundError:
                continue  # deleted since the listing: not there
        return found

    # -- internals -----------------------------------------------------------------------

    def _put(self, path: str, data: bytes) -> str:
        self.loc.count_local("PUT")
        if self.loc.is_s3:
            answer = self.fs.pipe_file(path, data)  # one PUT: visible whole or not at all
            etag = (answer or {}).get("ETag") or self.fs.info(path)["ETag"]  # multipart: ask
            return etag.strip('"')
        tmp = self._temporary(path, data)
        stamp = _stamp(os.stat(tmp))
        os.replace(tmp, path)
        return stamp

    @staticmethod
    def _temporary_name(path: str) -> str:
        """A hidden temporary name beside `path` (its folder made), named after its owner."""
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        return os.path.join(folder, f".{os.path.basename(path)}.{Owner.me().tag}."
                                    f"{uuid.uuid4().hex}.tmp")

    @staticmethod
    def _temporary(path: str, data: bytes) -> str:
        tmp = Lake._temporary_name(path)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return tmp


def _temporary_owner(name: str) -> Owner | None:
    """The writer of `.NAME.PID@HOST.UUID.tmp` (None for the older `.NAME.UUID.tmp`)."""
    parts = name[1:-len(".tmp")].rsplit(".", 2)
    return Owner.parse(parts[1]) if len(parts) == 3 else None


def _stamp(st: os.stat_result) -> str:
    return f"{st.st_size}-{st.st_mtime_ns}-{st.st_ino}"


def decode(files: list[bytes], schema: pa.Schema) -> pa.Table:
    """The rows of Parquet files given as bytes."""
    tables = [pq.read_table(io.BytesIO(data), schema=schema) for data in files]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def json_bytes(value: dict) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True).encode() + b"\n"


def canonical(table: pa.Table) -> pa.Table:
    """One row per record_id (the one with the smallest source_key, line_number), sorted by
    (request_time, record_id): a pure function of the set of rows, whatever their order.

    The ids are sorted as two big-endian 64-bit numbers (numpy, not a sort of binary
    values), duplicates (rare: records delivered twice) are settled one group at a time,
    and the table is gathered once, in its final order."""
    if table.num_rows == 0:
        return table
    ids = table["record_id"].combine_chunks()
    words = np.frombuffer(ids.buffers()[1], dtype=">u8", count=2 * (len(ids) + ids.offset))
    high, low = words[2 * ids.offset::2], words[2 * ids.offset + 1::2]
    order = np.lexsort((low, high))
    sorted_high, sorted_low = high[order], low[order]
    same = (sorted_high[1:] == sorted_high[:-1]) & (sorted_low[1:] == sorted_low[:-1])
    keep = np.ones(len(order), dtype=bool)
    keep[1:] = ~same
    if same.any():
        keys = table.select(["source_key", "line_number"])
        for start, end in _runs(same):  # order[start:end] share one id
            group = order[start:end]
            best = min(group.tolist(), key=lambda i: (keys["source_key"][i].as_py(),
                                                      keys["line_number"][i].as_py(), i))
            order[start] = best
    rows = order[keep]
    micros = table["request_time"].cast(pa.int64()).to_numpy()
    final = rows[np.lexsort((low[rows], high[rows], micros[rows]))]
    return table.take(pa.array(final))


def _runs(same: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) of each run of equal neighbours, from `same[i]`: row i+1 equals row i."""
    edges = np.diff(np.concatenate(([0], same.astype(np.int8), [0])))
    return list(zip(np.flatnonzero(edges == 1).tolist(),
                    (np.flatnonzero(edges == -1) + 1).tolist()))


def parquet_bytes(table: pa.Table, sort_key: str | None) -> bytes:
    """Deterministic Parquet (zstd): the same table always gives the same bytes."""
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=ROW_GROUP_ROWS,
                   **_parquet_options(table.schema, sort_key))
    return sink.getvalue()


def _parquet_options(schema: pa.Schema, sort_key: str | None) -> dict:
    """How every Parquet file of the lake is written (`parquet_bytes`, `write_parquet`)."""
    sorting = [pq.SortingColumn(schema.get_field_index(sort_key))] if sort_key else None
    return {"compression": "zstd", "sorting_columns": sorting, "write_statistics": True}


def _next_rows(tables: Iterator[pa.Table]) -> pa.Table | None:
    """The next table with rows (None at the end), no reference to it kept here."""
    for table in tables:
        if table.num_rows:
            return table
    return None


def _file_groups(groups: Iterator[tuple[int, pa.Table]], slot: list
                 ) -> Iterator[pa.Table]:
    """The row groups of one file: from `slot` (the next one, with its file's number) on,
    while the number stays the same; each let go before the next is made."""
    number = slot[0][0]
    while slot[0] is not None and slot[0][0] == number:
        table = slot[0][1]
        slot[0] = None
        yield table
        table = None
        slot[0] = next(groups, None)


def row_groups(tables: Iterable[pa.Table], group_rows: int, file_rows: int,
               contiguous: bool = True) -> Iterator[tuple[int, pa.Table]]:
    """Rows given piece by piece, cut as `write_files` cuts a table: files of `file_rows`
    rows, each in row groups of `group_rows` (the last ones shorter). Yields (file
    number, row group), each row group one contiguous chunk (a copy where it spans
    pieces), or if not `contiguous` the pieces as they came, sliced."""
    pending: list[pa.Table] = []
    have = done = 0
    for table in tables:
        if not table.num_rows:
            continue
        pending.append(table)
        del table
        have += pending[-1].num_rows
        while have >= (n := min(group_rows, file_rows - done % file_rows)):
            rows = pa.concat_tables(pending) if len(pending) > 1 else pending[0]
            rest = rows.slice(n)
            head = [rows.slice(0, n)]
            del rows
            pending = [rest] if rest.num_rows else []
            yield done // file_rows, _group(head, contiguous)
            have, done = have - n, done + n
    if have:
        yield done // file_rows, _group(
            [pa.concat_tables(pending) if len(pending) > 1 else pending[0]], contiguous)


def _group(holder: list[pa.Table], contiguous: bool) -> pa.Table:
    """The table in `holder` (taken out of it, so that it is the only reference), made
    one contiguous chunk column by column: the pieces of a column are let go as soon as
    it is copied, so only one column is held twice."""
    rows = holder.pop()
    if not contiguous or all(c.num_chunks == 1 for c in rows.columns):
        return rows
    schema, columns = rows.schema, rows.columns
    del rows
    for i, column in enumerate(columns):
        if column.num_chunks != 1:
            columns[i] = column.combine_chunks()
        del column
    return pa.Table.from_arrays(columns, schema=schema)
