"""Sorted runs on local disk and their k-way merge: how a folder larger than a rebuild's
share of memory is sorted (pipelines.lake.compact). A run is Arrow IPC (lz4) written in
small batches; the merge holds a batch or two of each run and yields the rows in their
final order, made final (deduplicated) one step at a time.
"""

from __future__ import annotations

import os
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterator
from functools import partial

import pyarrow as pa

from pipelines.lake.manifest import Target


class Counted:
    """Tables passed through, their rows counted: the merged rows pipelines.lake.compact
    writes, and says how many it kept."""

    def __init__(self, tables: Iterator[pa.Table]) -> None:
        self.tables, self.rows = tables, 0

    def __iter__(self) -> Iterator[pa.Table]:
        while (t := next(self.tables, None)) is not None:
            self.rows += t.num_rows
            yield t
            t = None  # not held while the next is made


def merge_key(target: Target) -> Callable[[pa.Table, int], tuple]:
    """The sort key of row i, as Python values that compare as the rebuild
    (pipelines.lake.compact) orders rows (timestamps as integers, ids as bytes:
    big-endian, as `canonical` compares them; text compares by code point, as Arrow
    compares UTF-8 by bytes): what `merge` orders the runs' rows by."""
    if target.table == "access_logs":
        return lambda t, i: (t["request_time"][i].value, t["record_id"][i].as_py())
    return lambda t, i: (t["source_key"][i].as_py(), t["line_number"][i].as_py())


def merge(runs: list[Iterator[pa.Table]], final: Callable[[pa.Table], pa.Table],
          key: Callable[[pa.Table, int], tuple]) -> Iterator[pa.Table]:
    """Rows of sorted runs (each already `final`) in their final order, one step at a
    time. Each run keeps at least one batch read ahead; a step takes every row that
    sorts before the smallest last key read of the runs not yet read to their end, which
    no row still unread can precede or equal, and makes it final (a record's copies in
    several runs, equal keys, are always taken in the same step). Equal keys keep the
    order of the runs, as a stable sort of the whole would."""
    pending: list[pa.Table | None] = [None] * len(runs)
    unread = [True] * len(runs)
    low = 0  # a run is read ahead while it holds fewer rows than its first batch had
    while True:
        for r, run in enumerate(runs):
            while unread[r] and (pending[r] is None or pending[r].num_rows < low or key(
                    pending[r], 0) == key(pending[r], pending[r].num_rows - 1)):
                batch = next(run, None)
                if batch is None:
                    unread[r] = False
                    break
                low = max(low, batch.num_rows)
                pending[r] = batch if pending[r] is None else pa.concat_tables(
                    [pending[r], batch])
        limits = [key(p, p.num_rows - 1) for p, more in zip(pending, unread) if more]
        limit = min(limits) if limits else None
        step = []
        for r, p in enumerate(pending):
            if p is None or not p.num_rows:
                continue
            n = p.num_rows if limit is None else bisect_left(
                range(p.num_rows), limit, key=partial(key, p))
            if n:
                step.append(p.slice(0, n))
                pending[r] = p.slice(n)
        if step:
            yield final(pa.concat_tables(step) if len(step) > 1 else step[0])
        if limit is None:
            return


def write_run(rows: pa.Table, folder: str, batch_bytes: int) -> str:
    """A sorted run in a file of `folder`, in batches of about `batch_bytes`."""
    return write_runs(iter([rows]), folder, batch_bytes)


def write_runs(tables: Iterator[pa.Table], folder: str, batch_bytes: int) -> str:
    """One sorted run in a file of `folder` from tables already in order (a merge of
    runs, when there are too many to merge at once), in batches of about `batch_bytes`."""
    path = os.path.join(folder, f"run-{uuid.uuid4().hex}.arrow")
    writer = None
    try:
        for t in tables:
            if writer is None:
                writer = pa.ipc.new_file(path, t.schema, options=pa.ipc.IpcWriteOptions(
                    compression="lz4"))
            if t.num_rows:
                rows = max(64, batch_bytes * t.num_rows // max(t.nbytes, 1))
                writer.write_table(t, max_chunksize=rows)
    finally:
        if writer is not None:
            writer.close()
    return path


def read_run(path: str) -> Iterator[pa.Table]:
    """A sorted run's rows, a batch at a time, as `merge` reads them."""
    with pa.OSFile(path) as f:
        reader = pa.ipc.open_file(f)
        for i in range(reader.num_record_batches):
            yield pa.Table.from_batches([reader.get_batch(i)])
