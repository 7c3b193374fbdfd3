"""Fetch many small log objects concurrently, in batches bounded by bytes.

s3fs's bulk `cat` runs the GETs of a batch concurrently on its event loop and already
retries throttling (503 SlowDown) with backoff; objects that still fail are retried here a
few more times before the run stops with an error naming the object. An object deleted
between listing and fetching (lifecycle expiry) is reported, not fatal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from .sources import ObjectInfo
from .storage import Location

BATCH_BYTES = 64 << 20
CONCURRENCY = 32
ATTEMPTS = 4


class FetchError(RuntimeError):
    """A log object could not be read after every retry."""


@dataclass
class Fetched:
    objects: list[tuple[ObjectInfo, bytes]]
    vanished: list[ObjectInfo] = field(default_factory=list)


def batches(objects: list[ObjectInfo], batch_bytes: int) -> Iterator[list[ObjectInfo]]:
    batch, size = [], 0
    for o in objects:
        if batch and size + o.size > batch_bytes:
            yield batch
            batch, size = [], 0
        batch.append(o)
        size += o.size
    if batch:
        yield batch


def fetch(loc: Location, objects: list[ObjectInfo], *, batch_bytes: int = BATCH_BYTES,
          concurrency: int = CONCURRENCY, attempts: int = ATTEMPTS,
          backoff: float = 0.5) -> Iterator[Fetched]:
    """Yield the objects' bytes batch by batch (at most `batch_bytes` in memory)."""
    for batch in batches(objects, batch_bytes):
        got: dict[str, bytes] = {}
        vanished: list[ObjectInfo] = []
        pending = batch
        for attempt in range(1, attempts + 1):
            results = loc.fs.cat([o.path for o in pending], on_error="return",
                                 batch_size=concurrency)
            loc.count_local("GET", len(pending))
            failed = []
            for o in pending:
                value = results.get(o.path, KeyError(o.path))
                if isinstance(value, bytes):
                    got[o.path] = value
                elif isinstance(value, FileNotFoundError):
                    vanished.append(o)
                else:
                    failed.append((o, value))
            if not failed:
                break
            if attempt == attempts:
                o, err = failed[0]
                raise FetchError(f"could not read log object {o.url} after {attempts} attempts "
                                 f"({len(failed)} objects failing): {err!r}")
            time.sleep(backoff * 2 ** (attempt - 1))
            pending = [o for o, _ in failed]
        yield Fetched([(o, got[o.path]) for o in batch if o.path in got], vanished)
