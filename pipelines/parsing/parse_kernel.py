"""The compiled kernel of the fast path: one pass over a chunk's bytes (numba, no GIL).

Numpy needed a dozen passes and many temporaries per chunk to find every field boundary;
here each line is read once, eight bytes at a time up to each space, quote or newline:
tokens (spaces outside quotes), the checks that make a line regular (field count, quotes,
every field's shape, strict UTF-8), field bounds, the time and the integers. The rules are
the exact parser's (`parse_line`), and the two are tested to agree. A second kernel copies
the string fields into Arrow buffers. Compiled once and cached beside this file
(`cache=True`).
"""

from __future__ import annotations

import re

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import trailing_zeros

from pipelines.parsing.intrinsics import copy, load64
from pipelines.parsing.logformat import (
    INT_FIELDS,
    KNOWN_FIELD_COUNTS,
    MAX_FIELD_COUNT,
    N_FIELDS,
    POS,
    QUOTED_POS,
)

SPACE, QUOTE, NEWLINE, CR, DASH, TAB = 32, 34, 10, 13, 45, 9
MAX_SHIFT = 11          # requester words beyond the first (CloudFront OAI requesters have 4)
MAX_FIELDS = MAX_FIELD_COUNT + 1
MAX_TOKENS = MAX_FIELDS + MAX_SHIFT + 2
TIME, REQUESTER, URI = POS["request_time"], POS["requester"], POS["request_uri"]
REQUEST_ID = POS["request_id"]
STATUS, ACL, OPERATION = POS["http_status"], POS["acl_required"], POS["operation"]
# The times a datetime can hold (years 1 to 9999, UTC), as the exact parser needs
MIN_EPOCH, MAX_EPOCH = -62135596800, 253402300799
HEAD_TOKENS = np.array([f + (f > TIME) for f in range(REQUESTER)], dtype=np.int64)
ALLOWED = np.zeros(MAX_FIELDS + 1, dtype=np.bool_)
ALLOWED[sorted(KNOWN_FIELD_COUNTS)] = True
ALLOWED[N_FIELDS + 1:MAX_FIELDS] = True   # later generations: extra fields are kept
IS_INT = np.zeros(N_FIELDS, dtype=np.bool_)
IS_INT[[POS[name] for name in INT_FIELDS]] = True
INT_SLOT = np.cumsum(IS_INT) - 1  # field -> its column in the integers `scan` returns
QUOTED = np.array(QUOTED_POS, dtype=np.int64)
MONTHS = np.array([ord(c) for c in "JanFebMarAprMayJunJulAugSepOctNovDec"], dtype=np.int64)
CUM_DAYS = np.array([0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334], dtype=np.int64)
DIM = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
# A word's bytes below the quote (the space, the newline and the quote are all <= it) set
# their high bit in (w - LOW) & ~w & HIGH; the lowest one set is the first such byte.
SWAR_LOW, SWAR_HIGH = np.uint64(0x2323232323232323), np.uint64(0x8080808080808080)


def _bytes_of(char_class: str) -> np.ndarray:
    """The bytes a one-character regex class matches, as a 256-entry table."""
    return np.array([re.fullmatch(char_class, chr(b)) is not None for b in range(256)])


# The value shapes of logformat, as the kernel checks them. Most are a fixed prefix (one
# class per character) then one or more bytes of a class; the operation and the source
# region have their own functions. tests/test_parse_kernel.py holds each to its regex.
PREFIXED = {
    "signature_version": (["S", "i", "g", "V"], "[0-9A-Za-z]"),
    "cipher_suite": ([], "[A-Za-z0-9_-]"),
    "authentication_type": ([], "[A-Za-z]"),
    "host_header": ([], r"[A-Za-z0-9._:\[\]-]"),
    "tls_version": (["[Tt]", "[Ll]", "[Ss]", "[Vv]"], "[0-9.]"),
    "access_point_arn": (["a", "r", "n", ":"], "[!-~]"),
}
SHAPE_PREFIXED, SHAPE_OPERATION, SHAPE_REGION = 1, 2, 3
SHAPE = np.zeros(N_FIELDS, np.int64)
PREFIX_LEN = np.zeros(N_FIELDS, np.int64)
PREFIX = np.zeros((N_FIELDS, 4, 256), np.bool_)
BODY = np.zeros((N_FIELDS, 256), np.bool_)
for _name, (_prefix, _body) in PREFIXED.items():
    _f = POS[_name]
    SHAPE[_f], PREFIX_LEN[_f], BODY[_f] = SHAPE_PREFIXED, len(_prefix), _bytes_of(_body)
    for _k, _cls in enumerate(_prefix):
        PREFIX[_f, _k] = _bytes_of(_cls)
SHAPE[POS["operation"]], SHAPE[POS["source_region"]] = SHAPE_OPERATION, SHAPE_REGION
UPPER, UPPER_DIGIT = _bytes_of("[A-Z]"), _bytes_of("[A-Z0-9]")
WORD, LOWER, DIGIT = _bytes_of("[A-Za-z0-9_]"), _bytes_of("[a-z]"), _bytes_of("[0-9]")
DOT, HYPHEN = 46, 45


@njit(nogil=True, cache=True)
def _prefixed(a, lo, hi, f):
    n = PREFIX_LEN[f]
    if hi - lo <= n:
        return False
    for k in range(n):
        if not PREFIX[f, k, a[lo + k]]:
            return False
    for i in range(lo + n, hi):  # noqa: SIM110 (numba compiles no generators)
        if not BODY[f, a[i]]:
            return False
    return True


@njit(nogil=True, cache=True)
def _operation(a, lo, hi):
    """[A-Z][A-Z0-9]*(?:\\.[A-Za-z0-9_]+){1,4}: no class holds the dot, so no backtracking."""
    if hi <= lo or not UPPER[a[lo]]:
        return False
    i = lo + 1
    while i < hi and UPPER_DIGIT[a[i]]:
        i += 1
    parts = 0
    while i < hi:
        if a[i] != DOT:
            return False
        i += 1
        start = i
        while i < hi and WORD[a[i]]:
            i += 1
        if i == start:
            return False
        parts += 1
    return 1 <= parts <= 4


@njit(nogil=True, cache=True)
def _region(a, lo, hi):
    """[a-z]{2}(?:-[a-z]+)+-[0-9]+: after each hyphen, letters start a part and digits
    the last one."""
    if hi - lo < 2 or not (LOWER[a[lo]] and LOWER[a[lo + 1]]):
        return False
    i, parts = lo + 2, 0
    while i < hi and a[i] == HYPHEN:
        i += 1
        start = i
        if i < hi and DIGIT[a[i]]:
            while i < hi and DIGIT[a[i]]:
                i += 1
            return i == hi and parts >= 1
        while i < hi and LOWER[a[i]]:
            i += 1
        if i == start:
            return False
        parts += 1
    return False


@njit(nogil=True, cache=True)
def shape_ok(a, lo, hi, f):
    """Whether a[lo:hi] has the shape of field `f` (True for fields without one here)."""
    kind = SHAPE[f]
    if kind == SHAPE_PREFIXED:
        return _prefixed(a, lo, hi, f)
    if kind == SHAPE_OPERATION:
        return _operation(a, lo, hi)
    if kind == SHAPE_REGION:
        return _region(a, lo, hi)
    return True


@njit(nogil=True, cache=True)
def _utf8_ok(a, lo, hi):
    """Strict UTF-8, as Python decodes it (no surrogates, no overlongs, <= U+10FFFF)."""
    i = lo
    while i < hi:
        c = a[i]
        if c < 0x80:
            i += 1
            continue
        if 0xC2 <= c <= 0xDF:
            n, low, high = 1, 0x80, 0xBF
        elif c == 0xE0:
            n, low, high = 2, 0xA0, 0xBF
        elif 0xE1 <= c <= 0xEC or c == 0xEE or c == 0xEF:
            n, low, high = 2, 0x80, 0xBF
        elif c == 0xED:
            n, low, high = 2, 0x80, 0x9F
        elif c == 0xF0:
            n, low, high = 3, 0x90, 0xBF
        elif 0xF1 <= c <= 0xF3:
            n, low, high = 3, 0x80, 0xBF
        elif c == 0xF4:
            n, low, high = 3, 0x80, 0x8F
        else:
            return False
        if i + n >= hi:
            return False
        if not (low <= a[i + 1] <= high):
            return False
        for k in range(2, n + 1):
            if not (0x80 <= a[i + k] <= 0xBF):
                return False
        i += n + 1
    return True


@njit(nogil=True, cache=True)
def _epoch(a, p):
    """`dd/Mon/yyyy:HH:MM:SS +zzzz` at p -> (UTC epoch seconds, valid)."""
    for k in (0, 1, 7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 22, 23, 24, 25):
        if a[p + k] < 48 or a[p + k] > 57:
            return 0, False
    if a[p + 2] != 47 or a[p + 6] != 47 or a[p + 11] != 58 or a[p + 14] != 58:
        return 0, False
    if a[p + 17] != 58 or a[p + 20] != SPACE or (a[p + 21] != 43 and a[p + 21] != 45):
        return 0, False
    month = -1
    for m in range(12):
        if a[p + 3] == MONTHS[3 * m] and a[p + 4] == MONTHS[3 * m + 1] and \
                a[p + 5] == MONTHS[3 * m + 2]:
            month = m
    if month < 0:
        return 0, False

    day = (np.int64(a[p]) - 48) * 10 + (np.int64(a[p + 1]) - 48)
    year = ((np.int64(a[p + 7]) - 48) * 1000 + (np.int64(a[p + 8]) - 48) * 100
            + (np.int64(a[p + 9]) - 48) * 10 + (np.int64(a[p + 10]) - 48))
    hh = (np.int64(a[p + 12]) - 48) * 10 + (np.int64(a[p + 13]) - 48)
    mi = (np.int64(a[p + 15]) - 48) * 10 + (np.int64(a[p + 16]) - 48)
    ss = (np.int64(a[p + 18]) - 48) * 10 + (np.int64(a[p + 19]) - 48)
    zh = (np.int64(a[p + 22]) - 48) * 10 + (np.int64(a[p + 23]) - 48)
    zm = (np.int64(a[p + 24]) - 48) * 10 + (np.int64(a[p + 25]) - 48)
    leap = (year % 4 == 0) and ((year % 100 != 0) or (year % 400 == 0))
    last = DIM[month] + (1 if (month == 1 and leap) else 0)
    if day < 1 or day > last or hh >= 24 or mi >= 60 or ss >= 60 or zh >= 24 or zm >= 60 \
            or year < 1:
        return 0, False
    y = year - 1
    days = (y * 365 + y // 4 - y // 100 + y // 400 + CUM_DAYS[month]
            + (1 if (month > 1 and leap) else 0) + day - 1 - 719162)
    offset = (zh * 60 + zm) * 60 * (1 if a[p + 21] == 43 else -1)
    secs = days * 86400 + hh * 3600 + mi * 60 + ss - offset
    return secs, MIN_EPOCH <= secs <= MAX_EPOCH


@njit(nogil=True, cache=True)
def scan(a, n_lines):
    """Every line of the chunk `a` (`n_lines` lines, ending with a newline): its bounds,
    whether it is blank, and for the regular ones (`good`) their field count, requester
    shift, epoch seconds, integer fields (by INT_SLOT) and, from `row_base`, each field's
    bounds and flags in flat arrays."""
    line_starts = np.empty(n_lines, np.int64)
    line_ends = np.empty(n_lines, np.int64)
    blank = np.zeros(n_lines, np.bool_)
    good = np.zeros(n_lines, np.bool_)
    nf_out = np.zeros(n_lines, np.int32)
    shift_out = np.zeros(n_lines, np.int32)
    epoch = np.zeros(n_lines, np.int64)
    row_base = np.zeros(n_lines, np.int64)
    ints = np.zeros((n_lines, len(INT_FIELDS)), np.int64)
    cap = n_lines * 32 + 64
    fs_out = np.empty(cap, np.int64)
    fe_out = np.empty(cap, np.int64)
    dash_out = np.empty(cap, np.bool_)
    ts = np.empty(MAX_TOKENS, np.int64)
    te = np.empty(MAX_TOKENS, np.int64)
    fs = np.empty(MAX_FIELDS, np.int64)
    fe = np.empty(MAX_FIELDS, np.int64)
    dash = np.empty(MAX_FIELDS, np.bool_)
    used = 0
    start = 0
    line = 0
    ntok, quotes, overflow, high, tok_start = 0, 0, False, 0, 0
    n_bytes, high_words, i = len(a), np.uint64(0), -1
    while True:
        i += 1
        while i + 8 <= n_bytes:  # eight bytes at a time up to one the loop must look at
            w = load64(a, i)
            high_words |= w
            t = (w - SWAR_LOW) & ~w & SWAR_HIGH
            if t:
                i += trailing_zeros(t) >> 3
                break
            i += 8
        if i >= n_bytes:
            break
        # most bytes are above the quote, the highest of the three we look for
        c = a[i]
        if c > QUOTE:
            high |= c
            continue
        if c == QUOTE:
            quotes += 1
            continue
        if c == SPACE:
            if quotes % 2 == 0:  # a space outside quotes ends a token
                if ntok < MAX_TOKENS - 1:
                    ts[ntok], te[ntok] = tok_start, i
                else:
                    overflow = True
                ntok += 1
                tok_start = i + 1
            continue
        if c != NEWLINE:
            continue
        # the last token ends at the newline, or at the CR of a CRLF
        end = i - 1 if i > tok_start and a[i - 1] == CR else i
        last = min(ntok, MAX_TOKENS - 1)
        ts[last], te[last] = tok_start, end
        ntok += 1
        # a word may reach into the next line: at worst a line is checked needlessly
        line_quotes = quotes
        line_high = high | (0x80 if high_words & SWAR_HIGH else 0)
        high_words = np.uint64(0)
        ntok_line, line_overflow = ntok, overflow
        ntok, quotes, overflow, high, tok_start = 0, 0, False, 0, i + 1
        line_starts[line], line_ends[line] = start, end
        start = i + 1
        line += 1
        idx = line - 1
        if ntok_line == 1 and te[0] == ts[0]:
            blank[idx] = True
            continue
        # the exact parser strips trailing tabs and CRs (a space leaves an empty token)
        if line_overflow or a[end - 1] == TAB or a[end - 1] == CR:
            continue
        empty, wrapped, first_q = 0, 0, -1
        for k in range(ntok_line):
            length = te[k] - ts[k]
            if length == 0:
                empty += 1
            elif a[ts[k]] == QUOTE:
                if first_q < 0:
                    first_q = k
                if length >= 2 and a[te[k] - 1] == QUOTE:
                    wrapped += 1
        shift = max(first_q - (URI + 1), 0) if first_q >= 0 else 0
        nf = ntok_line - shift - 1
        if empty or line_quotes != 2 * wrapped or shift > MAX_SHIFT or nf >= MAX_FIELDS \
                or not ALLOWED[nf]:
            continue
        if line_high >= 0x80 and not _utf8_ok(a, line_starts[idx], line_ends[idx]):
            continue
        width = max(nf, N_FIELDS)
        for f in range(width):
            t = HEAD_TOKENS[f] if f < REQUESTER else f + 1 + shift
            t = min(t, last)
            fs[f], fe[f] = ts[t], te[t]
            dash[f] = te[t] - ts[t] == 1 and a[ts[t]] == DASH
        ok = True
        w3 = 0
        for q in range(len(QUOTED)):
            f = QUOTED[q]
            t = min(f + 1 + shift, last)
            w = te[t] - ts[t] >= 2 and a[ts[t]] == QUOTE and a[te[t] - 1] == QUOTE
            if w:
                w3 += 1
                fs[f] += 1
                fe[f] -= 1
                dash[f] = fe[f] - fs[f] == 1 and a[fs[f]] == DASH
            elif not dash[f]:
                ok = False
        if w3 != wrapped:
            ok = False
        t2, t3 = min(TIME, last), min(TIME + 1, last)
        if te[t2] - ts[t2] != 21 or a[ts[t2]] != 91 or te[t3] - ts[t3] != 6 or \
                a[te[t3] - 1] != 93:
            ok = False
        fs[TIME], fe[TIME] = ts[t2] + 1, te[t3] - 1
        fs[REQUESTER] = ts[REQUESTER + 1]
        if shift:
            dash[REQUESTER] = False  # several words are never null, even ending in -
        if ok:
            secs, valid = _epoch(a, min(fs[TIME], len(a) - 26))
            ok = valid
            epoch[idx] = secs
        if dash[OPERATION]:  # the operation is the requester's anchor: never null
            ok = False
        for f in range(N_FIELDS):
            if not ok:
                break
            if f >= nf or dash[f]:
                continue
            length = fe[f] - fs[f]
            if IS_INT[f]:
                if length > 18:
                    ok = False
                v = np.int64(0)
                for j in range(fs[f], fe[f]):
                    if a[j] < 48 or a[j] > 57:
                        ok = False
                    v = v * 10 + (a[j] - 48)
                ints[idx, INT_SLOT[f]] = v
            if f == STATUS and length != 3:
                ok = False
            if f == ACL and not (length == 3 and a[fs[f]] == 89 and a[fs[f] + 1] == 101
                                 and a[fs[f] + 2] == 115):
                ok = False
            if SHAPE[f] and not shape_ok(a, fs[f], fe[f], f):
                ok = False
        if ok and shift:
            # A later requester word or the request ID shaped like an operation would give
            # the exact parser another anchor: such lines are left to it.
            for t in range(REQUESTER + 2, REQUESTER + 2 + shift):
                if _operation(a, ts[t], te[t]):
                    ok = False
            if _operation(a, fs[REQUEST_ID], fe[REQUEST_ID]):
                ok = False
        if not ok:
            continue
        if used + width > len(fs_out):
            grow = max(2 * len(fs_out), used + width)
            fs_out = _grow(fs_out, grow)
            fe_out = _grow(fe_out, grow)
            dash_out = _grow(dash_out, grow)
        for f in range(width):
            fs_out[used + f], fe_out[used + f] = fs[f], fe[f]
            dash_out[used + f] = dash[f] or f >= nf
        row_base[idx] = used
        used += width
        good[idx], nf_out[idx], shift_out[idx] = True, nf, shift
    return (line_starts, line_ends, blank, good, nf_out, shift_out, epoch, ints, row_base,
            fs_out[:used], fe_out[:used], dash_out[:used])


@njit(nogil=True, cache=True)
def _grow(x, n):
    out = np.empty(n, x.dtype)
    out[:len(x)] = x
    return out


@njit(nogil=True, cache=True)
def strings(a, rows, fs, fe, null, fields):
    """The `fields` of the rows (their `row_base`) as Arrow string buffers, one column
    after the other in one allocation: validity (fields x rows), int32 offsets relative to
    each column's first byte (fields x rows + 1), each column's first byte, and the bytes.
    Both passes go row by row, so the chunk and the field bounds are read in order."""
    n, m = len(rows), len(fields)
    valid = np.empty((m, n), np.bool_)
    offsets = np.empty((m, n + 1), np.int32)
    total = np.zeros(m, np.int64)
    for r in range(n):
        for c in range(m):
            j = rows[r] + fields[c]
            offsets[c, r] = total[c]
            valid[c, r] = not null[j]
            if valid[c, r]:
                total[c] += fe[j] - fs[j]
    base = np.zeros(m + 1, np.int64)
    for c in range(m):
        offsets[c, n] = total[c]
        base[c + 1] = base[c] + total[c]
    data = np.empty(base[m], np.uint8)
    for r in range(n):
        for c in range(m):
            if valid[c, r]:
                j = rows[r] + fields[c]
                copy(data, base[c] + offsets[c, r], a, fs[j], fe[j] - fs[j])
    return valid, offsets, base, data


@njit(nogil=True, cache=True)
def extras(a, rows, nf, fs, fe):
    """The fields beyond the known ones, as a list<string>: list offsets, string offsets
    and bytes (kept as logged, dashes too)."""
    n = len(rows)
    list_offsets = np.zeros(n + 1, np.int32)
    for r in range(n):
        list_offsets[r + 1] = list_offsets[r] + max(nf[r] - N_FIELDS, 0)
    m = list_offsets[n]
    offsets = np.zeros(m + 1, np.int32)
    total = 0
    k = 0
    for r in range(n):
        for f in range(N_FIELDS, nf[r]):
            total += fe[rows[r] + f] - fs[rows[r] + f]
            k += 1
            offsets[k] = total
    data = np.empty(total, np.uint8)
    out = 0
    for r in range(n):
        for f in range(N_FIELDS, nf[r]):
            j = rows[r] + f
            copy(data, out, a, fs[j], fe[j] - fs[j])
            out += fe[j] - fs[j]
    return list_offsets, offsets, data


@njit(nogil=True, cache=True)
def count_lines(a):
    """Newlines in `a` (vectorised by the compiler; faster than bytes.count)."""
    n = 0
    for i in range(len(a)):
        n += a[i] == NEWLINE
    return n


@njit(nogil=True, cache=True)
def find_newline(a, lo, hi):
    """The first newline in a[lo:hi], or -1."""
    for i in range(lo, hi):
        if a[i] == NEWLINE:
            return i
    return -1


@njit(nogil=True, cache=True)
def last_newline(a, lo, hi):
    """The last newline in a[lo:hi], or -1."""
    for i in range(hi - 1, lo - 1, -1):
        if a[i] == NEWLINE:
            return i
    return -1


@njit(nogil=True, cache=True)
def all_space(a):
    """Whether `a` holds nothing but whitespace (as bytes.isspace; stops at a byte)."""
    for i in range(len(a)):
        c = a[i]
        if c != SPACE and not (TAB <= c <= CR):
            return False
    return len(a) > 0
