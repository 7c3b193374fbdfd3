"""How the process allocates memory and hands it back: set once, at the edge (the command
line, the Dagster step, a benchmark's step), because it is the process's, not a run's.

An ingestion parses on a few threads, then rebuilds partitions on a few others. With
Arrow's default allocator (mimalloc) and the C library's defaults (eight malloc arenas per
core, and a threshold for mmap that rises to 32 MiB as large blocks are freed), each
thread keeps pages it freed. Rebuilding the 116 folders of 29 days at scale 64 (one
process, 384 MiB budget, 2 cores) peaked at 951 MiB; Arrow on malloc, 851; with two
arenas, 756; with blocks of 1 MiB and more mapped and unmapped on their own, 670, for
about 5% more time, and 50 MiB left resident after it instead of 240.
"""

from __future__ import annotations

import contextlib
import ctypes

import pyarrow as pa

ARENAS = 2          # malloc arenas the threads share (glibc's default: 8 per core)
MAPPED = 1 << 20    # blocks at least this large are mapped, and unmapped when freed
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8   # mallopt's parameter numbers (malloc.h)


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (macOS, musl): its own defaults stay
        return None


def bound_allocator(arenas: int = ARENAS, mapped: int = MAPPED) -> None:
    """Arrow's buffers from malloc, at most `arenas` malloc arenas, and blocks of `mapped`
    bytes or more mapped on their own, for the rest of the process (buffers already made
    keep the allocator that made them)."""
    pa.set_memory_pool(pa.system_memory_pool())
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(AttributeError):
            libc.mallopt(_M_ARENA_MAX, arenas)
            libc.mallopt(_M_MMAP_THRESHOLD, mapped)


def give_back() -> None:
    """Return freed memory to the system now: Arrow's pool, and the C heap where it is
    glibc's (a phase's peak would otherwise stay counted in the next one's)."""
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(AttributeError):
            libc.malloc_trim(0)
