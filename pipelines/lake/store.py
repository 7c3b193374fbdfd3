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

Reading is pipelines.lake.reader's (LakeReader, which Lake extends); what a file holds and
how its bytes are made, pipelines.lake.parquet_files's; who left a hidden temporary file,
pipelines.lake.owner's.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.ingestion.layout import bucket_name_problem
from pipelines.lake.manifest import PartitionKey
from pipelines.lake.owner import Owner
from pipelines.lake.parquet_files import (
    ROW_GROUP_ROWS,
    file_groups,
    next_rows,
    parquet_bytes,
    parquet_options,
    row_groups,
)
from pipelines.lake.reader import LakeReader, file_stamp
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
STALE_TEMPORARY_SECONDS = 3600  # a hidden .tmp this old is left by a killed writer
UPLOAD_PART_BYTES = 8 << 20  # a streamed file this large or larger goes to S3 in parts


class LakeWriteError(OSError):
    """Writing to the lake failed after the storage's own retries; one sentence."""

    def __init__(self, url: str, cause: BaseException) -> None:
        reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
        super().__init__(f"could not write {url} ({reason}): check the lake's storage "
                         "(permissions, endpoint, free space) and run again; what earlier "
                         "runs committed is intact")


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


class Lake(LakeReader):
    def __init__(self, url: str, endpoint: str | None = None,
                 max_rows_per_file: int = MAX_ROWS_PER_FILE) -> None:
        super().__init__(url, endpoint)
        self.max_rows_per_file = max_rows_per_file
        self._checked = _Checked()

    def twin(self) -> Lake:
        """The same lake with requests counted apart (its own client on S3), for work
        running alongside others that must say what it asked for."""
        twin = Lake(self.url, self.endpoint, self.max_rows_per_file)
        twin._checked = self._checked
        return twin

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
            done = self.write_parquet(path, file_groups(groups, slot), sort_key, scratch)
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
        first = [next_rows(groups)]
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
                        writer = pq.ParquetWriter(sink, table.schema, **parquet_options(
                            table.schema, sort_key))
                    writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
                except OSError as e:
                    raise LakeWriteError(self.display(path), e) from e
                rows += table.num_rows
                table = None  # let it go before the producer makes the next
                table = next_rows(groups)  # the producer's errors pass as they are
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
            stamp = file_stamp(os.stat(tmp))
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

    # -- internals -----------------------------------------------------------------------

    def _put(self, path: str, data: bytes) -> str:
        self.loc.count_local("PUT")
        if self.loc.is_s3:
            answer = self.fs.pipe_file(path, data)  # one PUT: visible whole or not at all
            etag = (answer or {}).get("ETag") or self.fs.info(path)["ETag"]  # multipart: ask
            return etag.strip('"')
        tmp = self._temporary(path, data)
        stamp = file_stamp(os.stat(tmp))
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


def json_bytes(value: dict) -> bytes:
    return json.dumps(value, indent=1, sort_keys=True).encode() + b"\n"
