"""Columnar parsing of a chunk of log lines: numpy finds the fields, Arrow builds the columns.

Why this shape: a per-line Python parser tops out near 100 MB/s, and CSV readers that are
fast (Arrow, DuckDB) mis-handle S3's unescaped quotes and varying field counts. Here the
whole chunk is tokenised at once: the positions of spaces, quotes and newlines give, via a
running quote parity, every field boundary of every line. Lines of the regular shape (each
quote opens or closes a whole Request-URI/Referer/User-Agent field, no empty field, a known
field count, every field of a valid shape) become Arrow columns through `take` over one
zero-copy binary array of field slices. Every other line is returned to the caller for the
exact parser, whose semantics these checks mirror; the two are tested to agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .layout import bucket_name_problem
from .logformat import (
    FIELDS,
    INT_FIELDS,
    KNOWN_FIELD_COUNTS,
    N_FIELDS,
    OPERATION_RE,
    POS,
    QUOTED_POS,
    RECORD_SCHEMA,
)
from .parse_line import MONTHS, record_id

SPACE, QUOTE, NEWLINE, CR, DASH = 32, 34, 10, 13, 45
MAX_SHIFT = 11  # requester words beyond the first (CloudFront OAI requesters have 4)
_TIME_LEN = 26  # "06/Feb/2019:00:00:38 +0000"
_MONTH_CODES = np.array([m.encode()[0] << 16 | m.encode()[1] << 8 | m.encode()[2]
                         for m in MONTHS])
_MONTH_ORDER = np.argsort(_MONTH_CODES)
_CUM_DAYS = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334])
_DIM = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_INT_POS = [i for i, f in enumerate(FIELDS) if f.name in INT_FIELDS]
# Token of a field, before the requester: the time spans two tokens ([date and +zone]).
_TIME, _REQUESTER, _URI = POS["request_time"], POS["requester"], POS["request_uri"]
_STATUS, _ACL, _REQUEST_ID = POS["http_status"], POS["acl_required"], POS["request_id"]
_HEAD_TOKENS = [f + (f > _TIME) for f in range(_REQUESTER)]
# request_time and acl_required are computed from their bounds, not taken as text
_DERIVED = {_TIME, _ACL}
_TAKEN = [i for i in range(N_FIELDS) if i not in _DERIVED]
# Fields whose shape is not fully checked by numpy above, all of few distinct values.
_DICT_SHAPES = [(i, f"^(?:{f.shape})$") for i, f in enumerate(FIELDS)
                if f.shape and i not in _INT_POS and i not in _DERIVED]
_OP_WORD = f" {OPERATION_RE}( |$)"
_OP_ONLY = f"^{OPERATION_RE}$"
_ALLOWED_COUNTS = np.array(sorted(KNOWN_FIELD_COUNTS))


@dataclass(frozen=True)
class Origins:
    """Where the lines of a chunk come from: a chunk may pack many small log objects.

    Segment j holds `keys[j]`'s lines from chunk line `starts[j]` on, numbered from
    `first_numbers[j]` in their object."""

    keys: list[str]
    starts: np.ndarray
    first_numbers: np.ndarray

    @staticmethod
    def single(key: str, first_line: int = 1) -> Origins:
        return Origins([key], np.zeros(1, np.int64), np.array([first_line], np.int64))

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


def _epoch_seconds(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 26) bytes of `dd/Mon/yyyy:HH:MM:SS +zzzz` -> (UTC epoch seconds, valid mask)."""
    d = t.astype(np.int64) - 48
    digits = [0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 22, 23, 24, 25]
    ok = np.all((d[:, digits] >= 0) & (d[:, digits] <= 9), axis=1)
    ok &= (t[:, 2] == ord("/")) & (t[:, 6] == ord("/")) & (t[:, 11] == ord(":"))
    ok &= (t[:, 14] == ord(":")) & (t[:, 17] == ord(":")) & (t[:, 20] == SPACE)
    ok &= (t[:, 21] == ord("+")) | (t[:, 21] == ord("-"))
    code = t[:, 3].astype(np.int64) << 16 | t[:, 4].astype(np.int64) << 8 | t[:, 5]
    pos = np.searchsorted(_MONTH_CODES[_MONTH_ORDER], code).clip(0, 11)
    month = _MONTH_ORDER[pos]  # 0-based
    ok &= _MONTH_CODES[month] == code
    day = d[:, 0] * 10 + d[:, 1]
    year = d[:, 7] * 1000 + d[:, 8] * 100 + d[:, 9] * 10 + d[:, 10]
    hh, mi, ss = d[:, 12] * 10 + d[:, 13], d[:, 15] * 10 + d[:, 16], d[:, 18] * 10 + d[:, 19]
    zh, zm = d[:, 22] * 10 + d[:, 23], d[:, 24] * 10 + d[:, 25]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last = _DIM[month] + ((month == 1) & leap)
    ok &= (day >= 1) & (day <= last) & (hh < 24) & (mi < 60) & (ss < 60) & (zh < 24)
    ok &= (zm < 60) & (year >= 1)
    y = year - 1
    days = (y * 365 + y // 4 - y // 100 + y // 400 + _CUM_DAYS[month]
            + ((month > 1) & leap) + day - 1 - 719162)  # 719162 = days from 0001-01-01
    offset = (zh * 60 + zm) * np.where(t[:, 21] == ord("+"), 1, -1) * 60
    return days * 86400 + hh * 3600 + mi * 60 + ss - offset, ok


def _tokenise(a: np.ndarray):
    """Boundaries of the space-separated, quote-aware tokens of every line."""
    # One comparison finds the candidates (newline, space and quote are all <= 34).
    special = np.flatnonzero(a <= QUOTE)
    kind = a[special]
    is_nl = kind == NEWLINE
    cq = np.cumsum(kind == QUOTE, dtype=np.int32)
    base = np.maximum.accumulate(np.where(is_nl, cq, 0))
    boundary = is_nl | ((kind == SPACE) & (((cq - base) & 1) == 0))
    ends = special[boundary].astype(np.int32)  # chunks are far below 2 GiB
    line_quotes = np.diff(cq[is_nl], prepend=0)
    return ends, is_nl[boundary], line_quotes


def _all_digits(a: np.ndarray, fs: np.ndarray, fe: np.ndarray) -> np.ndarray:
    """Per slice [fs, fe): true when every byte is an ASCII digit (and the slice is short
    enough for an int64)."""
    lens = fe - fs
    total = int(lens.sum())
    if total == 0:
        return lens <= 18
    starts = np.zeros(len(lens), dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    pos = np.arange(total) + np.repeat(fs - starts, lens)
    b = a[pos]
    bad = np.zeros(len(lens), dtype=np.int64)
    nonzero = lens > 0
    bad[nonzero] = np.add.reduceat((b < 48) | (b > 57), starts[nonzero])
    return (bad == 0) & (lens <= 18)


def _shape_ok(col: pa.Array, pattern: str) -> np.ndarray:
    """Regex check through the dictionary: these columns hold few distinct values."""
    enc = col.dictionary_encode()
    ok = pc.match_substring_regex(enc.dictionary, pattern)
    return pc.fill_null(pc.take(ok, enc.indices), True).to_numpy(zero_copy_only=False)


def _valid_buckets(col: pa.Array) -> np.ndarray:
    """Bucket names that can be lake folders (pipelines.layout), checked once per distinct
    name; the exact parser rejects the others, with their reason."""
    enc = col.dictionary_encode()
    ok = pa.array([bucket_name_problem(v) is None for v in enc.dictionary.to_pylist()],
                  pa.bool_())
    return pc.fill_null(pc.take(ok, enc.indices), False).to_numpy(zero_copy_only=False)


def _record_ids(buf: bytes, starts: np.ndarray, ends: np.ndarray) -> pa.Array:
    view = memoryview(buf)
    digests = b"".join([record_id(view[s:e]) for s, e in zip(starts.tolist(), ends.tolist())])
    return pa.Array.from_buffers(pa.binary(16), len(starts), [None, pa.py_buffer(digests)])


def _gather_columns(values: pa.Array, row_base: np.ndarray, present: np.ndarray,
                    dash: np.ndarray) -> dict[int, pa.Array]:
    """Every string field as its own column, `-` and absent fields null: one column-major
    take over the field slices, each column a zero-copy slice of the result."""
    n = len(row_base)
    fields = np.array(_TAKEN)
    positions = (2 * (row_base[None, :] + fields[:, None])).ravel()
    nulls = (~present[:, fields] | dash[:, fields]).T.ravel()
    taken = pc.take(values, pa.array(positions, mask=nulls)).view(pa.string())
    return {f: taken.slice(i * n, n) for i, f in enumerate(_TAKEN)}


def parse_regular(buf: bytes, origins: Origins) -> VectorResult:
    """Parse the regular lines of `buf`, which must end with a newline."""
    a = np.frombuffer(buf, np.uint8)
    te, tok_nl, line_quotes = _tokenise(a)
    ts = np.empty_like(te)
    ts[0] = 0
    ts[1:] = te[:-1] + 1
    last_tok = np.flatnonzero(tok_nl)
    first_tok = np.empty_like(last_tok)
    first_tok[0] = 0
    first_tok[1:] = last_tok[:-1] + 1
    line_starts = ts[first_tok]
    crlf = (te[last_tok] > ts[last_tok]) & (a[te[last_tok] - 1] == CR)
    te[last_tok[crlf]] -= 1
    line_ends = te[last_tok].copy()
    ntok = last_tok - first_tok + 1
    tlen = te - ts
    n_lines = len(last_tok)

    first_byte = a[ts]
    wrapped = (first_byte == QUOTE) & (a[te - 1] == QUOTE) & (tlen >= 2)
    empty = np.add.reduceat(tlen == 0, first_tok)
    n_wrapped = np.add.reduceat(wrapped, first_tok)
    blank = (ntok == 1) & (tlen[first_tok] == 0)

    # Requester words beyond the first shift every later field: find the shift from the
    # position of the first quote-opening token (the quoted Request-URI at field 9).
    shift = np.zeros(n_lines, dtype=np.int32)
    q_tok = np.flatnonzero(first_byte == QUOTE)
    tok_line = np.searchsorted(last_tok, q_tok)
    first_q = np.ones(len(q_tok), dtype=bool)
    first_q[1:] = tok_line[1:] != tok_line[:-1]
    q_lines = tok_line[first_q]
    shift[q_lines] = np.maximum(q_tok[first_q] - first_tok[q_lines] - (_URI + 1), 0)
    nf = ntok - shift - 1
    ok = (empty == 0) & (line_quotes == 2 * n_wrapped) & (shift <= MAX_SHIFT)
    ok &= (np.isin(nf, _ALLOWED_COUNTS) | (nf > N_FIELDS)) & (nf < 128)

    if a.max() >= 0x80:  # non-ASCII lines stay here only if they are valid UTF-8
        for i in np.unique(np.searchsorted(line_ends, np.flatnonzero(a >= 0x80))):
            try:
                bytes(buf[line_starts[i]:line_ends[i]]).decode("utf-8")
            except UnicodeDecodeError:
                ok[i] = False

    idx = np.flatnonzero(ok)
    ft, s, nfi, last = first_tok[idx], shift[idx], nf[idx], last_tok[idx]
    width = max(int(nfi.max()) if len(idx) else 0, N_FIELDS)
    # Field -> token, one row per line: one to one, except the time (tokens 2 and 3,
    # brackets dropped) and a requester with spaces (tokens 5 to 5 + shift).
    f_tok = np.arange(width, dtype=np.int32)[None, :] + 1 + s[:, None]
    f_tok[:, :_REQUESTER] = _HEAD_TOKENS
    f_tok = np.minimum(ft[:, None] + f_tok, last[:, None])
    present = np.arange(width)[None, :] < nfi[:, None]
    fs, fe = ts[f_tok], te[f_tok]
    dash = (tlen[f_tok] == 1) & (first_byte[f_tok] == DASH)
    good = np.ones(len(idx), dtype=bool)
    w3 = np.zeros(len(idx), dtype=np.int64)
    for f in QUOTED_POS:  # wrapped or a bare dash, and no other token holds a quote
        w = wrapped[f_tok[:, f]]
        w3 += w
        good &= w | dash[:, f]
        fs[w, f] += 1
        fe[w, f] -= 1
        dash[w, f] = (fe[w, f] - fs[w, f] == 1) & (a[fs[w, f]] == DASH)
    good &= w3 == n_wrapped[idx]
    t2, t3 = f_tok[:, _TIME], np.minimum(ft + _TIME + 1, last)
    good &= (tlen[t2] == 21) & (first_byte[t2] == ord("[")) & (tlen[t3] == 6)
    good &= a[te[t3] - 1] == ord("]")
    fs[:, _TIME] += 1
    fe[:, _TIME] = te[t3] - 1
    fs[:, _REQUESTER] = ts[ft + _REQUESTER + 1]  # its first word
    dash[:, _REQUESTER] &= s == 0  # a multi-word requester is never null, even if it ends in -
    time_pos = np.minimum(fs[:, _TIME], len(a) - _TIME_LEN)
    epoch, time_ok = _epoch_seconds(a[time_pos[:, None] + np.arange(_TIME_LEN)])
    good &= time_ok
    for f in _INT_POS:
        check = present[:, f] & ~dash[:, f]
        good[check] &= _all_digits(a, fs[check, f], fe[check, f])
    good &= ~present[:, _STATUS] | dash[:, _STATUS] | (fe[:, _STATUS] - fs[:, _STATUS] == 3)
    acl = fs[:, _ACL]
    good &= ~present[:, _ACL] | dash[:, _ACL] | ((fe[:, _ACL] - acl == 3) & (a[acl] == ord("Y")) & (
        a[acl + 1] == ord("e")) & (a[np.minimum(acl + 2, len(a) - 1)] == ord("s")))

    if not good.all():
        idx, epoch, nfi, s = idx[good], epoch[good], nfi[good], s[good]
        present, dash, fs, fe = present[good], dash[good], fs[good], fe[good]
    n = len(idx)
    flat = present.ravel()
    m = int(flat.sum())
    bounds = np.empty(2 * m, dtype=np.int32)
    bounds[0::2] = fs.ravel()[flat]
    bounds[1::2] = fe.ravel()[flat]
    values = pa.Array.from_buffers(pa.binary(), max(2 * m - 1, 0),
                                   [None, pa.py_buffer(bounds), pa.py_buffer(buf)])
    row_base = np.zeros(n, dtype=np.int64)
    np.cumsum(nfi[:-1], out=row_base[1:])

    cols = _gather_columns(values, row_base, present, dash)
    checks = _valid_buckets(cols[POS["bucket"]])
    for f, pattern in _DICT_SHAPES:
        checks &= _shape_ok(cols[f], pattern)
    shifted = s > 0
    if shifted.any():
        # A requester word shaped like an operation would give the exact parser an
        # earlier anchor: leave such lines to it. Kleene `or`, since request_id may be null.
        suspicious = pc.fill_null(pc.or_kleene(
            pc.match_substring_regex(cols[_REQUESTER], _OP_WORD),
            pc.match_substring_regex(cols[_REQUEST_ID], _OP_ONLY)),
                                  False)
        checks &= ~(shifted & suspicious.to_numpy(zero_copy_only=False))
    if not checks.all():
        keep = pa.array(checks)
        cols = {f: c.filter(keep) for f, c in cols.items()}
        idx, epoch, nfi, present, fs, fe, row_base = (
            x[checks] for x in (idx, epoch, nfi, present, fs, fe, row_base))
        n = len(idx)

    arrays = []
    for f, spec in enumerate(FIELDS):
        if spec.name == "request_time":
            arr = pa.array(epoch * 1_000_000, pa.int64()).cast(spec.type)
        elif spec.name == "acl_required":
            arr = pa.array(fe[:, f] - fs[:, f] == 3, mask=~present[:, f])
        else:
            arr = cols[f]
            if spec.type != pa.string():
                arr = arr.cast(spec.type)
            if spec.name == "bytes_sent":
                arr = pc.if_else(pa.array(present[:, f]), pc.fill_null(arr, 0), arr)
        arrays.append(arr)

    n_extra = np.maximum(nfi - N_FIELDS, 0)
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(n_extra, out=offsets[1:])
    rows, extra_cols = np.nonzero(present[:, N_FIELDS:])
    extra_values = pc.take(values, pa.array(2 * (row_base[rows] + N_FIELDS + extra_cols),
                                            pa.int64()))
    seg, line_numbers = origins.locate(idx)
    arrays += [
        pa.ListArray.from_arrays(pa.array(offsets), extra_values.view(pa.string())),
        pa.array(nfi.astype(np.int8)),
        origins.key_column(seg),
        pa.array(line_numbers.astype(np.int32)),
        pa.array(np.zeros(n, dtype=bool)),
        _record_ids(buf, line_starts[idx], line_ends[idx]),
    ]
    records = pa.Table.from_arrays(arrays, schema=RECORD_SCHEMA)
    handled = np.zeros(n_lines, dtype=bool)
    handled[idx] = True
    leftover = np.flatnonzero(~handled & ~blank)
    return VectorResult(records, line_starts, line_ends, leftover)
