"""Fetch many small log objects concurrently, in batches bounded by bytes.

s3fs's `cat_ranges` runs the GETs of a batch concurrently on its event loop; botocore retries
throttling and server errors (3 attempts, with backoff), s3fs retries throttling and broken
connections, and this module tries what still failed once more after a pause. An object
that keeps failing does not stop the run: it is reported as failed (so the next run tries
it again) and the others go on. An object the store refuses for good (access denied, an
archived storage class) is reported apart, to be quarantined as an object. One deleted
between listing and fetching (lifecycle expiry) is reported as vanished. Objects larger
than a batch would hold are not read whole: the caller streams them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from pipelines.ingestion.sources import ObjectInfo
from pipelines.lake.storage import Location

BATCH_BYTES = 32 << 20     # per unit: a few hundred small objects, enough to keep 32 GETs busy
STREAM_BYTES = 16 << 20     # objects at least this large are streamed, never held whole
CONCURRENCY = 32
ATTEMPTS = 2                # rounds of GETs here, each with botocore's own retries
_REFUSED = ("AccessDenied", "InvalidObjectState", "Forbidden", "403")


class FetchError(RuntimeError):
    """A log object could not be read; the message names it."""


@dataclass
class Fetched:
    objects: list[tuple[ObjectInfo, bytes]]
    streams: list[ObjectInfo] = field(default_factory=list)    # large: read them streaming
    vanished: list[ObjectInfo] = field(default_factory=list)
    failed: list[tuple[ObjectInfo, str]] = field(default_factory=list)    # try again later
    refused: list[tuple[ObjectInfo, str]] = field(default_factory=list)   # for good


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
    """Yield the objects' bytes batch by batch (at most `batch_bytes` in memory), with
    what could not be read and why."""
    small = [o for o in objects if o.size < STREAM_BYTES]
    large = [o for o in objects if o.size >= STREAM_BYTES]
    if large:
        yield Fetched([], streams=large)
    for batch in batches(small, batch_bytes):
        done = Fetched([])
        got: dict[str, bytes] = {}
        pending = batch
        for attempt in range(1, attempts + 1):
            # cat_ranges, not cat: cat would take a path holding [ or * for a glob
            concurrent = {"batch_size": concurrency} if loc.is_s3 else {}
            results = loc.fs.cat_ranges([o.path for o in pending], None, None,
                                        on_error="return", **concurrent)
            loc.count_local("GET", len(pending))
            failed = []
            for o, value in zip(pending, results):
                if isinstance(value, bytes):
                    got[o.path] = value
                elif isinstance(value, FileNotFoundError):
                    done.vanished.append(o)
                elif refused(value):
                    done.refused.append((o, describe(value)))
                else:
                    failed.append((o, describe(value)))
            if not failed:
                break
            if attempt == attempts:
                done.failed = failed
            else:
                time.sleep(backoff * 2 ** (attempt - 1))
                pending = [o for o, _ in failed]
        done.objects = [(o, got[o.path]) for o in batch if o.path in got]
        yield done


def refused(error: BaseException) -> bool:
    """The store says no for good: trying again will not help."""
    return isinstance(error, PermissionError) or any(c in str(error) for c in _REFUSED)


def describe(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}"[:300]
