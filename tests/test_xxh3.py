"""The compiled record id is xxhash's XXH3-128, byte for byte: lakes depend on it."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from xxhash import xxh3_128_digest

from pipelines.parsing.parse import parse_log
from pipelines.parsing.xxh3 import SHORTEST, digests
from tests.loglines import line


def _compiled(pieces: list[bytes]) -> tuple[list[bytes], list[bool]]:
    buf = b"".join(pieces)
    ends = np.cumsum([len(p) for p in pieces])
    out, short = digests(np.frombuffer(buf, np.uint8), ends - [len(p) for p in pieces], ends)
    return [out[16 * i:16 * i + 16].tobytes() for i in range(len(pieces))], short.tolist()


def test_every_length_across_stripes_and_blocks():
    rng = np.random.default_rng(7)
    pieces = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in range(0, 2200)]
    got, short = _compiled(pieces)
    for piece, digest, is_short in zip(pieces, got, short):
        assert is_short == (len(piece) < SHORTEST)
        if not is_short:
            assert digest == xxh3_128_digest(piece), len(piece)


@given(st.lists(st.binary(min_size=SHORTEST, max_size=5000), min_size=1, max_size=5))
def test_random_bytes(pieces):
    assert _compiled(pieces)[0] == [xxh3_128_digest(p) for p in pieces]


def test_parsed_records_carry_the_digest_of_their_raw_line_short_or_long():
    short = line(17, bucket_owner="o", requester="-", key="k", request_uri="-",
                 user_agent="-")
    long = line(extra=("x" * 300,))
    assert len(short) < SHORTEST < len(long)
    ids = parse_log(short + b"\n" + long + b"\r\n", "k").records["record_id"].to_pylist()
    assert ids == [xxh3_128_digest(short), xxh3_128_digest(long)]
