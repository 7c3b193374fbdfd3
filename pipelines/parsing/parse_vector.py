"""Columnar parsing of a chunk of log lines: a compiled kernel finds the fields, Arrow
holds the columns.

Why this shape: a per-line Python parser tops out near 100 MB/s, and CSV readers that are
fast (Arrow, DuckDB) mis-handle S3's unescaped quotes and varying field counts. Here one
compiled pass over the chunk (pipelines.parsing.parse_kernel) tokenises every line (spaces outside
quotes), decides which lines are of the regular shape (each quote opens or closes a whole
Request-URI/Referer/User-Agent field, no empty field, a known field count, every field of
a valid shape) and finds their field bounds, times and integers; the string fields are
copied into Arrow buffers by the kernel too, and record ids hashed by pipelines.parsing.xxh3.
Every other line is returned to the caller for the exact parser, whose semantics these
checks mirror; the two are tested to agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.ingestion.layout import bucket_name_problem
from pipelines.parsing import parse_kernel as k
from pipelines.parsing import xxh3
from pipelines.parsing.logformat import FIELDS, N_FIELDS, POS, RECORD_SCHEMA
from pipelines.parsing.parse_line import record_id


@dataclass(frozen=True)
class Origins:
    """Where the lines of a chunk come from: a chunk may pack many small log objects.

    Segment j holds `keys[j]`'s lines from chunk line `starts[j]` on, numbered from
    `first_numbers[j]` in their object; the chunk has `lines` lines in all."""

    keys: list[str]
    starts: np.ndarray
    first_numbers: np.ndarray
    lines: int

    def locate(self, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(segment index, line number in its object) for chunk line indexes."""
        seg = np.searchsorted(self.starts, lines, side="right") - 1
        return seg, self.first_numbers[seg] + (lines - self.starts[seg])

    def key_column(self, seg: np.ndarray) -> pa.Array:
        return pc.take(pa.array(self.keys, pa.string()), pa.array(seg))


@dataclass
class VectorResult:
    """Records of the regular lines, and the lines left for the exact parser."""

    records: pa.Table          # RECORD_SCHEMA, in line order
    line_starts: np.ndarray    # per line of the chunk: offset of its first byte
    line_ends: np.ndarray      # per line: offset of its end (newline, or CR of a CRLF)
    leftover: np.ndarray       # indexes of non-empty lines not handled here


def _valid_buckets(col: pa.Array) -> np.ndarray:
    """Bucket names that can be lake folders (pipelines.ingestion.layout), checked once per distinct
    name; the exact parser rejects the others, with their reason."""
    enc = col.dictionary_encode()
    ok = pa.array([bucket_name_problem(v) is None for v in enc.dictionary.to_pylist()],
                  pa.bool_())
    return pc.fill_null(pc.take(ok, enc.indices), False).to_numpy(zero_copy_only=False)


def _record_ids(buf: bytes | memoryview, a: np.ndarray, starts: np.ndarray,
                ends: np.ndarray) -> pa.Array:
    """XXH3-128 of each line, compiled for the long lines and by xxhash for the rest."""
    digests, short = xxh3.digests(a, starts, ends)
    if short.any():
        view = memoryview(buf)
        for i in np.flatnonzero(short).tolist():
            digests[16 * i:16 * i + 16] = np.frombuffer(
                record_id(view[starts[i]:ends[i]]), np.uint8)
    return pa.Array.from_buffers(pa.binary(16), len(starts), [None, pa.py_buffer(digests)])


def _bitmap(valid: np.ndarray) -> pa.Buffer | None:
    return None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))


_STRINGS = np.array([f for f in range(N_FIELDS) if FIELDS[f].type == pa.string()])


def _string_columns(a: np.ndarray, rows, fs, fe, null) -> dict[int, pa.Array]:
    valid, offsets, base, data = k.strings(a, rows, fs, fe, null, _STRINGS)
    return {int(f): pa.Array.from_buffers(pa.string(), len(rows), [
        _bitmap(valid[c]), pa.py_buffer(offsets[c]),
        pa.py_buffer(data[base[c]:base[c + 1]])]) for c, f in enumerate(_STRINGS)}


def parse_regular(buf: bytes | memoryview, origins: Origins) -> VectorResult:
    """Parse the regular lines of `buf`, which must end with a newline."""
    a = np.frombuffer(buf, np.uint8)
    (line_starts, line_ends, blank, good, nf, shift, epoch, ints, row_base, fs, fe,
     null) = k.scan(a, origins.lines)
    idx = np.flatnonzero(good)
    rows, nfi, epoch, ints = row_base[idx], nf[idx], epoch[idx], ints[idx]
    cols = _string_columns(a, rows, fs, fe, null)
    checks = _valid_buckets(cols[POS["bucket"]])
    if not checks.all():
        keep = pa.array(checks)
        cols = {f: c.filter(keep) for f, c in cols.items()}
        idx, rows, nfi, epoch, ints = (idx[checks], rows[checks], nfi[checks],
                                       epoch[checks], ints[checks])
    n = len(idx)

    arrays = []
    for f, spec in enumerate(FIELDS):
        present = nfi > f
        if spec.name == "request_time":
            arr = pa.array(epoch * 1_000_000, pa.int64()).cast(spec.type)
        elif spec.name == "acl_required":
            length = fe[rows + f] - fs[rows + f] if n else np.zeros(0, np.int64)
            arr = pa.array(length == 3, mask=~present)
        elif k.IS_INT[f]:
            values, valid = np.ascontiguousarray(ints[:, k.INT_SLOT[f]]), ~null[rows + f]
            if spec.name == "bytes_sent":  # logged as - when nothing was sent
                valid = valid | present
            arr = pa.Array.from_buffers(pa.int64(), n, [_bitmap(valid),
                                                        pa.py_buffer(values)])
            if spec.type != pa.int64():
                arr = arr.cast(spec.type)
        else:
            arr = cols[f]
        arrays.append(arr)

    list_offsets, offsets, data = k.extras(a, rows, nfi, fs, fe)
    extra_values = pa.Array.from_buffers(pa.string(), len(offsets) - 1, [
        None, pa.py_buffer(offsets), pa.py_buffer(data)])
    seg, line_numbers = origins.locate(idx)
    arrays += [
        pa.ListArray.from_arrays(pa.array(list_offsets), extra_values),
        pa.array(nfi.astype(np.int8)),
        origins.key_column(seg),
        pa.array(line_numbers.astype(np.int32)),
        pa.array(np.zeros(n, dtype=bool)),
        _record_ids(buf, a, line_starts[idx], line_ends[idx]),
    ]
    records = pa.Table.from_arrays(arrays, schema=RECORD_SCHEMA)
    handled = np.zeros(len(line_starts), dtype=bool)
    handled[idx] = True
    leftover = np.flatnonzero(~handled & ~blank)
    return VectorResult(records, line_starts, line_ends, leftover)
