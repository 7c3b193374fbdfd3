"""A realistic estate of buckets and the traffic its principals make, for the demo, the
tests and the detection evaluation: the actors' days (pipelines.synthetic.actors) with the
named incidents (pipelines.synthetic.incidents) overlaid, delivered as log objects.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.synthetic.actors import (
    ACTORS,
    BUCKETS,
    Draws,
    Requests,
    day_requests,
    draw,
    format_lines,
)
from pipelines.synthetic.incidents import overlay, silenced
from pipelines.synthetic.synth import write_keyed

BLOCK_SCALE = 64.0
"""The most traffic one block of a day holds, as a scale (64: about 1.5 million requests).

Up to this a day is one block, generated exactly as before blocks existed, so the same seed
gives the same bytes (the demo, `make eval` and the tests rely on it). Earlier versions
failed somewhere above scale 41 and always above 62.4, so every run that worked is in here.
A larger day is ceil(scale / BLOCK_SCALE) blocks of equal scale, each from its own seeded
generator, generated and written one after the other: memory is bounded by a block, not a
day. A bucket's blocks overlap in time, as objects from S3's many delivering hosts do."""


@dataclass(frozen=True)
class EstateConfig:
    start: date = date(2026, 11, 16)
    days: int = 7
    scale: float = 1.0                 # multiplies every actor's requests per day
    records_per_object: int = 400      # delivery batches
    late_fraction: float = 0.02
    seed: int = 11
    incidents: tuple = field(default_factory=tuple)   # pipelines.synthetic.incidents.Planted


PIECE_ROWS = 1 << 16
"""About how many lines of a bucket are formatted at a time (whole delivery batches)."""


def estate_lines(cfg: EstateConfig) -> Iterator[tuple[date, str, pa.Array, np.ndarray]]:
    """(day, bucket, lines, epoch seconds) of the benign traffic with incidents overlaid, in
    pieces: a bucket's day comes as `day_blocks` blocks, each in time order, each in pieces
    of whole delivery batches (so objects are cut as if the block came at once)."""
    rows = max(1, PIECE_ROWS // cfg.records_per_object) * cfg.records_per_object
    rng = np.random.default_rng(cfg.seed)
    blocks = day_blocks(cfg.scale)
    for d in range(cfg.days):
        day = cfg.start + timedelta(days=d)
        for b in range(blocks):
            # one block: the generator runs on across days, as it always has
            block_rng = rng if blocks == 1 else np.random.default_rng((cfg.seed, d, b))
            yield from block_lines(block_rng, day, cfg.scale / blocks, cfg.incidents,
                                   overlaid=b == 0, rows=rows)


def day_blocks(scale: float) -> int:
    """How many blocks a day at `scale` is generated in, so none is larger than
    BLOCK_SCALE."""
    return max(1, math.ceil(scale / BLOCK_SCALE))


def block_lines(rng: np.random.Generator, day: date, scale: float, incidents, *,
                overlaid: bool = True, rows: int = PIECE_ROWS
                ) -> Iterator[tuple[date, str, pa.Array, np.ndarray]]:
    """(day, bucket, lines, epoch seconds) of one block, `rows` lines at most at a time:
    every actor's requests of the day at `scale`, plus the incidents' requests if `overlaid`
    (a day's incidents are planted once, not once per block); the incidents' silences apply
    to every block. Only requests and their random columns are held for the whole block;
    lines exist a piece at a time."""
    by_bucket: dict[str, list[Requests]] = {b: [] for b in BUCKETS}
    for actor in ACTORS:
        requests = day_requests(rng, actor, day, scale)
        if requests is not None:
            by_bucket[actor.bucket].append(requests)
    for bucket in BUCKETS:
        parts = by_bucket.pop(bucket)  # a bucket's requests are let go once it is written
        drawn = [draw(rng, r) for r in parts]
        if overlaid:
            planted = overlay(rng, incidents, day, bucket)
            parts, drawn = parts + planted, drawn + [draw(rng, r) for r in planted]
        if not parts:
            continue
        secs = np.concatenate([r.secs for r in parts])
        kept = np.flatnonzero(overlay_filter(incidents, day, bucket, secs))
        order = kept[np.argsort(secs[kept], kind="stable")]  # ties in part order
        for lo in range(0, len(order), rows):
            piece = order[lo:lo + rows]
            yield day, bucket, _lines_at(parts, drawn, piece), secs[piece]


def _lines_at(parts: list[Requests], drawn: list[Draws], at: np.ndarray) -> pa.Array:
    """The lines of the rows `at` (indices into the parts, concatenated), in that order.

    Each part's rows are formatted together, so a part's scalar columns stay scalars, and
    the lines then put back in the order of `at`."""
    starts = np.cumsum([0] + [len(r) for r in parts])
    part = np.searchsorted(starts, at, side="right") - 1
    formatted = []
    for p in np.unique(part):
        rows = at[part == p] - starts[p]
        formatted.append(format_lines(parts[p].take(rows), drawn[p].take(rows)))
    grouped = np.argsort(part, kind="stable")  # where each formatted line belongs
    position = np.empty_like(grouped)
    position[grouped] = np.arange(len(grouped))
    return pc.take(pa.concat_arrays(formatted), pa.array(position))


def overlay_filter(incidents, day: date, bucket: str, secs: np.ndarray) -> np.ndarray:
    keep = np.ones(len(secs), dtype=bool)
    for start, end in silenced(incidents, day, bucket):
        keep &= ~((secs >= start) & (secs < end))
    return keep


def generate_objects(cfg: EstateConfig, prefix: str = "logs/"
                     ) -> Iterator[tuple[str, bytes]]:
    """(key, content) of the estate's log objects, simple layout, delivered in batches
    within hours of the records, a few days late now and then."""
    rng = np.random.default_rng(cfg.seed + 1)
    for _, _, lines, secs in estate_lines(cfg):
        for lo in range(0, len(lines), cfg.records_per_object):
            chunk = lines[lo:lo + cfg.records_per_object]
            delay = int(rng.integers(300, 3600))
            if rng.random() < cfg.late_fraction:
                delay += 86400
            last = int(secs[min(lo + cfg.records_per_object, len(lines)) - 1])
            stamp = datetime.fromtimestamp(last + delay, tz=UTC).strftime("%Y-%m-%d-%H-%M-%S")
            body = pc.binary_join(pa.array([chunk.cast(pa.binary())], pa.list_(pa.binary())),
                                  b"\n")[0].as_py() + b"\n"
            yield f"{prefix}{stamp}-{rng.bytes(8).hex().upper()}", body


def write_objects(cfg: EstateConfig, root: str | os.PathLike) -> list[str]:
    """Write the estate's log objects under a local folder; returns the keys written."""
    return write_keyed(generate_objects(cfg), root)
