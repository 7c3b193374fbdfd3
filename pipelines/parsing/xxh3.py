"""XXH3-128 of many lines in one compiled call, without the GIL.

Record ids are the XXH3-128 digest of a line's raw bytes (`xxhash.xxh3_128_digest`): they
are stored in every lake, so the function can never change. Calling xxhash once per line
holds the GIL for about a tenth of the parse and keeps a second thread waiting; this is the
same algorithm (xxHash 0.8, default secret, seed 0, its scalar path) for lines longer than
240 bytes, which is nearly every log line. Shorter lines take other branches of XXH3,
and are left to xxhash itself. tests/test_xxh3.py holds this to the library on every
length and on random bytes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from pipelines.parsing.intrinsics import load64

SHORTEST = 241  # XXH3's "long" inputs; shorter ones go to xxhash

_SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
    "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
    "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
    "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364"
    "eac5ac8334d3ebc3c581a0fffa1363eb170ddd51b7f0da49d316552629d4689e"
    "2b16be587d47a1fc8ff8b8d17ad031ce45cb3a8f95160428afd7fbcabb4b407e")
# SECRET64[o]: the little-endian 64-bit word at byte o of the secret
SECRET64 = np.array([int.from_bytes(_SECRET[o:o + 8], "little") for o in range(185)],
                    np.uint64)
PRIME32_1, PRIME32_2, PRIME32_3 = np.uint64(0x9E3779B1), np.uint64(0x85EBCA77), \
    np.uint64(0xC2B2AE3D)
PRIME64_1, PRIME64_2 = np.uint64(0x9E3779B185EBCA87), np.uint64(0xC2B2AE3D27D4EB4F)
PRIME64_3, PRIME64_4 = np.uint64(0x165667B19E3779F9), np.uint64(0x85EBCA77C2B2AE63)
PRIME64_5, PRIME_MX1 = np.uint64(0x27D4EB2F165667C5), np.uint64(0x165667919E3779F9)
INIT = np.array([PRIME32_3, PRIME64_1, PRIME64_2, PRIME64_3, PRIME64_4, PRIME32_2,
                 PRIME64_5, PRIME32_1], np.uint64)
STRIPE, STRIPES_PER_BLOCK = 64, (len(_SECRET) - 64) // 8
BLOCK = STRIPE * STRIPES_PER_BLOCK
LOW32 = np.uint64(0xFFFFFFFF)
U8, U32, U47, U37, U56 = np.uint64(8), np.uint64(32), np.uint64(47), np.uint64(37), \
    np.uint64(56)


@njit(nogil=True, cache=True)
def _accumulate(acc, a, p, secret_at):
    for lane in range(8):
        value = load64(a, p + 8 * lane)
        key = value ^ SECRET64[secret_at + 8 * lane]
        acc[lane ^ 1] += value
        acc[lane] += (key & LOW32) * (key >> U32)


@njit(nogil=True, cache=True)
def _fold(lhs, rhs):
    """The 128-bit product of two 64-bit words, its halves xor-ed."""
    lo_lo = (lhs & LOW32) * (rhs & LOW32)
    hi_lo = (lhs >> U32) * (rhs & LOW32)
    lo_hi = (lhs & LOW32) * (rhs >> U32)
    hi_hi = (lhs >> U32) * (rhs >> U32)
    cross = (lo_lo >> U32) + (hi_lo & LOW32) + lo_hi
    upper = (hi_lo >> U32) + (cross >> U32) + hi_hi
    lower = (cross << U32) | (lo_lo & LOW32)
    return lower ^ upper


@njit(nogil=True, cache=True)
def _merge(acc, secret_at, start):
    h = start
    for i in range(4):
        h += _fold(acc[2 * i] ^ SECRET64[secret_at + 16 * i],
                   acc[2 * i + 1] ^ SECRET64[secret_at + 16 * i + 8])
    h ^= h >> U37
    h *= PRIME_MX1
    return h ^ (h >> U32)


@njit(nogil=True, cache=True)
def digests(a, starts, ends):
    """XXH3-128 digests (16 bytes each, as xxh3_128_digest gives them) of a[starts:ends],
    and which lines are too short for this path (their digests are left zero)."""
    n = len(starts)
    out = np.zeros(16 * n, np.uint8)
    short = np.zeros(n, np.bool_)
    acc = np.empty(8, np.uint64)
    for r in range(n):
        p, length = starts[r], ends[r] - starts[r]
        if length < SHORTEST:
            short[r] = True
            continue
        acc[:] = INIT
        blocks = (length - 1) // BLOCK
        for b in range(blocks):
            for s in range(STRIPES_PER_BLOCK):
                _accumulate(acc, a, p + b * BLOCK + s * STRIPE, 8 * s)
            for lane in range(8):  # scramble
                v = acc[lane]
                v ^= v >> U47
                v ^= SECRET64[len(_SECRET) - STRIPE + 8 * lane]
                acc[lane] = v * PRIME32_1
        stripes = ((length - 1) - BLOCK * blocks) // STRIPE
        for s in range(stripes):
            _accumulate(acc, a, p + blocks * BLOCK + s * STRIPE, 8 * s)
        _accumulate(acc, a, p + length - STRIPE, len(_SECRET) - STRIPE - 7)
        n64 = np.uint64(length)
        low = _merge(acc, 11, n64 * PRIME64_1)
        high = _merge(acc, len(_SECRET) - 64 - 11, ~(n64 * PRIME64_2))
        for k in range(8):  # canonical form: big-endian high, then low
            shift = U56 - U8 * np.uint64(k)
            out[16 * r + k] = np.uint8((high >> shift) & np.uint64(0xFF))
            out[16 * r + 8 + k] = np.uint8((low >> shift) & np.uint64(0xFF))
    return out, short
