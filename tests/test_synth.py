"""The synthetic log generator: real key layouts, realistic content, deterministic."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import pyarrow.compute as pc

from pipelines.parse import parse_log
from pipelines.synth import ACCOUNT, SynthConfig, generate_objects

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
    late = 0
    for key, body in generate_objects(cfg):
        m = re.search(r"/(\d{4})/(\d\d)/(\d\d)/" + STAMP + "$", key)
        assert m and m.groups()[:3] == m.groups()[3:6], key
        first = min(parse_log(body, key).records["request_time"].to_pylist())
        late += datetime(*map(int, m.groups()[3:9])) - first.replace(tzinfo=None) > \
            timedelta(days=1)
    assert late > 0


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
    assert ops["BATCH.DELETE.OBJECT"] > 0 and ops["S3.COMPUTE.OBJECT.CHECKSUM"] >= 0
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
