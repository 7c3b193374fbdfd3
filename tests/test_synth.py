"""The synthetic log generator: real key layouts, realistic content, deterministic."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.parsing.parse import parse_log
from pipelines.synthetic import actors, estate, synth
from pipelines.synthetic.actors import ACTORS, day_requests, render
from pipelines.synthetic.estate import EstateConfig, block_lines, day_blocks
from pipelines.synthetic.incidents import ATTACKER, Planted
from pipelines.synthetic.synth import ACCOUNT, SynthConfig, generate_objects, random_tokens

SMALL = SynthConfig(days=3, records_per_day=600, duplicate_fraction=0.05, late_fraction=0.1)
STAMP = r"(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-[0-9A-F]{16}"


def test_same_seed_same_objects_other_seed_other_objects():
    assert list(generate_objects(SMALL)) == list(generate_objects(SMALL))
    assert list(generate_objects(SMALL)) != list(generate_objects(replace(SMALL, seed=8)))


def test_simple_prefix_keys_carry_the_delivery_time():
    for key, body in generate_objects(SMALL):
        m = re.fullmatch("logs/" + STAMP, key)
        assert m, key
        delivered = datetime(*map(int, m.groups()))
        last_event = max(parse_log(body, key).records["request_time"].to_pylist())
        assert delivered >= last_event.replace(tzinfo=None)


def test_partitioned_event_time_keys_name_the_event_day():
    cfg = replace(SMALL, layout="partitioned", partition_date_source="EventTime")
    for key, body in generate_objects(cfg):
        m = re.fullmatch(rf"logs/{ACCOUNT}/us-east-1/([a-z0-9.-]+)/(\d{{4}})/(\d\d)/(\d\d)/"
                         + STAMP, key)
        assert m, key
        bucket, y, mo, d = m.group(1), *map(int, m.groups()[1:4])
        assert m.groups()[4:7] == (str(y), f"{mo:02d}", f"{d:02d}")
        assert m.groups()[7:10] == ("00", "00", "00")
        records = parse_log(body, key).records
        assert set(records["bucket"].to_pylist()) == {bucket}  # one source bucket per object
        days = {t.date() for t in records["request_time"].to_pylist()}
        assert days == {datetime(y, mo, d).date()}


def test_partitioned_delivery_time_keys_name_the_delivery_day():
    cfg = replace(SMALL, layout="partitioned", partition_date_source="DeliveryTime")
    days_late = Counter()
    for key, body in generate_objects(cfg):
        m = re.search(r"/(\d{4})/(\d\d)/(\d\d)/" + STAMP + "$", key)
        assert m and m.groups()[:3] == m.groups()[3:6], key
        last = max(parse_log(body, key).records["request_time"].to_pylist())
        delay = datetime(*map(int, m.groups()[3:9])) - last.replace(tzinfo=None)
        # delivered 5 to 90 minutes after its last record, plus 1 to 3 whole days when late
        late_days, rest = divmod(delay, timedelta(days=1))
        assert timedelta(minutes=5) <= rest < timedelta(minutes=90), (key, delay)
        days_late[late_days] += 1
    assert set(days_late) <= {0, 1, 2, 3}
    objects, late = days_late.total(), days_late.total() - days_late[0]
    # each object is late with probability late_fraction (0.1): 6.1 of SMALL's 61 expected, 5 seen
    assert 0.5 * cfg.late_fraction * objects <= late <= 2 * cfg.late_fraction * objects


def test_duplicates_late_objects_and_a_realistic_mix():
    objects = list(generate_objects(SMALL))
    bodies = Counter(body for _, body in objects)
    assert any(n == 2 for n in bodies.values())  # S3 delivered some objects twice
    parsed = [parse_log(body, key) for key, body in objects]
    records = [p.records for p in parsed]
    lines = sum(p.lines_read for p in parsed)
    assert lines == sum(len(r) for r in records) + sum(len(p.rejects) for p in parsed)
    ops = Counter(op for r in records for op in r["operation"].to_pylist())
    assert ops["REST.GET.OBJECT"] > ops["REST.PUT.OBJECT"] > ops["S3.EXPIRE.OBJECT"] > 0
    assert ops["BATCH.DELETE.OBJECT"] > 0 and ops["S3.COMPUTE.OBJECT.CHECKSUM"] > 0
    counts = Counter(c for r in records for c in r["field_count"].to_pylist())
    assert {18, 24, 25, 26, 27} <= set(counts) and any(c > 27 for c in counts)
    statuses = Counter(s for r in records for s in r["http_status"].to_pylist())
    assert statuses[200] and statuses[404] and statuses[403] and statuses[None]
    requesters = {q for r in records for q in r["requester"].to_pylist()}
    assert None in requesters and "AmazonS3" in requesters
    assert any(q and "assumed-role" in q for q in requesters)
    assert any(q and " " in q for q in requesters)  # CloudFront OAI
    assert any(pc.any(pc.greater(r["object_size"], 2**32)).as_py() for r in records)
    assert len({b for r in records for b in r["bucket"].to_pylist()}) == 3


def _digest(objects) -> str:
    h = hashlib.sha256()
    for key, body in objects:
        h.update(key.encode() + b"\0" + body)
    return h.hexdigest()


ESTATE = EstateConfig(start=date(2026, 11, 14), days=2, scale=0.3,
                      incidents=(Planted("credential_misuse", date(2026, 11, 14)),
                                 Planted("delivery_gap", date(2026, 11, 15))))


def test_the_traffic_is_pinned_byte_for_byte():
    # Pins the generated traffic (keys and bytes) the demo, `make eval` and the tests rely
    # on: digests of the output before the generator was made to work at any scale. A change
    # here changes every seeded run; do it on purpose or not at all.
    assert _digest(generate_objects(SMALL)) == \
        "1c0976d14891ce309d8f02a0a9a5bba28cddd324560adc6bfeabe32995dcf39a"
    assert _digest(estate.generate_objects(ESTATE)) == \
        "244e10a84e58ae1d3ca03aa66362502400a74b487b787cfab7d5b04224f1b7f8"


ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def test_random_tokens_past_2_24_bytes_are_one_array_of_the_same_draws():
    n = 310_000  # 56 x 310,000 bytes: pa.array over numpy bytes made this a ChunkedArray
    tokens = random_tokens(np.random.default_rng(5), n, 56, ALPHABET)
    assert isinstance(tokens, pa.StringArray) and len(tokens) == n
    tokens.validate(full=True)
    # the same strings as one draw of the whole n x 56 (it is drawn in slices of rows)
    rng = np.random.default_rng(5)
    codes = np.frombuffer(ALPHABET, np.uint8)[rng.integers(0, len(ALPHABET), size=(n, 56))]
    assert tokens.to_numpy(zero_copy_only=False).astype("S56").tolist() == \
        codes.view("S56").ravel().tolist()


def test_random_tokens_past_what_one_string_array_holds_are_chunked(monkeypatch):
    monkeypatch.setattr(synth, "STRING_BYTES", 1000)  # stands for 2 GiB
    tokens = random_tokens(np.random.default_rng(5), 100, 56, ALPHABET)
    assert isinstance(tokens, pa.ChunkedArray)
    assert all(len(c) * 56 <= 1000 for c in tokens.chunks)
    monkeypatch.undo()
    assert tokens.combine_chunks().equals(random_tokens(np.random.default_rng(5), 100, 56,
                                                         ALPHABET))


def test_an_actor_day_past_the_old_break_point_renders_and_concatenates():
    # the website's visitors at scale 64: over 300,000 requests, their host ids over 2^24
    # bytes, where the estate raised TypeError in pa.concat_arrays (scale ~41 and above)
    rng = np.random.default_rng(1)
    requests = day_requests(rng, ACTORS[0], date(2026, 11, 16), scale=64)
    assert len(requests) * 56 > 2**24
    lines, secs = render(rng, requests)
    assert isinstance(lines, pa.Array) and len(lines) == len(secs) == len(requests)
    both = pa.concat_arrays([lines, lines])
    assert len(both) == 2 * len(requests)
    assert lines[0].as_py().split(" ")[1] == "shop-website"


def test_a_day_is_cut_in_blocks_only_above_the_block_scale():
    assert [day_blocks(s) for s in (0.05, 1, 40, 62.5, 64)] == [1, 1, 1, 1, 1]
    assert [day_blocks(s) for s in (64.5, 128, 256, 1000)] == [2, 2, 4, 16]


def _lines_by_bucket(cfg: EstateConfig) -> dict[str, list[tuple[pa.Array, np.ndarray]]]:
    out: dict[str, list[tuple[pa.Array, np.ndarray]]] = {}
    for _, bucket, lines, secs in estate.estate_lines(cfg):
        out.setdefault(bucket, []).append((lines, secs))
    return out


def test_blocks_plant_incidents_once_and_silence_every_block(monkeypatch):
    monkeypatch.setattr(estate, "BLOCK_SCALE", 0.05)  # a day at scale 0.2 in four blocks
    day = date(2026, 11, 16)
    cfg = EstateConfig(start=day, days=1, scale=0.2,
                       incidents=(Planted("credential_misuse", day),
                                  Planted("delivery_gap", day)))
    assert day_blocks(cfg.scale) == 4
    pieces = _lines_by_bucket(cfg)
    assert set(pieces) == set(actors.BUCKETS)
    assert all(len(p) == 4 for p in pieces.values())  # one piece per block: all small
    for bucket_pieces in pieces.values():
        for _, secs in bucket_pieces:
            assert np.all(np.diff(secs) >= 0)  # each block in time order
    lake = [line for lines, _ in pieces["data-lake-raw"] for line in lines.to_pylist()]
    assert sum(f" {ATTACKER} " in line for line in lake) == 1500  # planted once, not 4 times
    nine = int(datetime(2026, 11, 16, 9, tzinfo=UTC).timestamp())
    partner = np.concatenate([secs for _, secs in pieces["partner-exchange"]])
    assert len(partner) and partner.max() < nine  # the gap silences every block
    # each block is the estate at scale / blocks: the day is as large as in one block
    benign = replace(cfg, incidents=())
    blocks = sum(len(s) for p in _lines_by_bucket(benign).values() for _, s in p)
    monkeypatch.undo()
    one = sum(len(s) for p in _lines_by_bucket(benign).values() for _, s in p)
    assert 0.8 * one < blocks < 1.2 * one


def test_a_block_formatted_in_pieces_is_the_block_formatted_at_once():
    day = date(2026, 11, 16)
    incidents = (Planted("scanning", day), Planted("delivery_gap", day))

    def lines(rows: int) -> dict[str, list[bytes]]:
        out: dict[str, list[bytes]] = {}
        for _, bucket, piece, secs in block_lines(np.random.default_rng(3), day, 0.2,
                                                  incidents, rows=rows):
            assert len(piece) == len(secs) <= rows
            out.setdefault(bucket, []).extend(piece.to_pylist())
        return out

    at_once = lines(10**9)
    assert lines(1000) == at_once and lines(7) == at_once
