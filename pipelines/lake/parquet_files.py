"""What a lake file holds and how its bytes are made: rows in their canonical order
(`canonical`), cut into files and row groups (`row_groups`), written as deterministic
Parquet (`parquet_bytes`; pipelines.lake.store streams files with `parquet_options`) and
read back (`decode`).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROW_GROUP_ROWS = 128 * 1024


def decode(files: list[bytes], schema: pa.Schema) -> pa.Table:
    """The rows of Parquet files given as bytes."""
    tables = [pq.read_table(io.BytesIO(data), schema=schema) for data in files]
    return pa.concat_tables(tables) if tables else schema.empty_table()


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
                   **parquet_options(table.schema, sort_key))
    return sink.getvalue()


def parquet_options(schema: pa.Schema, sort_key: str | None) -> dict:
    """How every Parquet file of the lake is written (`parquet_bytes` here, and
    pipelines.lake.store's `Lake.write_parquet`, a row group at a time)."""
    sorting = [pq.SortingColumn(schema.get_field_index(sort_key))] if sort_key else None
    return {"compression": "zstd", "sorting_columns": sorting, "write_statistics": True}


def next_rows(tables: Iterator[pa.Table]) -> pa.Table | None:
    """The next table with rows (None at the end), no reference to it kept here: how
    pipelines.lake.store's `Lake.write_parquet` pulls its row groups."""
    for table in tables:
        if table.num_rows:
            return table
    return None


def file_groups(groups: Iterator[tuple[int, pa.Table]], slot: list
                ) -> Iterator[pa.Table]:
    """The row groups of one file: from `slot` (the next one, with its file's number) on,
    while the number stays the same; each let go before the next is made. What
    pipelines.lake.store's `Lake.write_parts` writes as one file, from `row_groups`."""
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
