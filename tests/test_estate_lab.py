"""The second estate (pipelines/synthetic/estate_lab.py): independent of the first, deterministic,
parseable, and its benign events and incidents are where the evaluation expects them."""

from __future__ import annotations

import ast
import ipaddress
import re
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from pipelines.ingestion.layout import parse_key
from pipelines.parsing.parse import parse_log
from pipelines.synthetic import estate_lab as lab
from pipelines.synthetic.lab_incidents import INCIDENTS, third_week
from pipelines.synthetic.lab_population import (
    BUCKETS,
    CLEANUP,
    EMR,
    LAKE_FORMATION,
    SITES,
    VARIANT_CALLER,
    VIEWER,
    LabConfig,
    assumed,
    benign_events,
    consumer_addresses,
    iam_user,
)

ROOT = Path(__file__).resolve().parents[1]
SMALL = LabConfig(scale=0.15, seed=3)
PLANTED = replace(SMALL, incidents=third_week(SMALL))
FIELDS = 26


@cache
def records(cfg: LabConfig, day: date) -> dict:
    """Each bucket's parsed records of a day, as a list of dicts (after checking that
    every line parses and has its 26 fields)."""
    out = {}
    for bucket, rows in lab.day_lines(cfg, day).items():
        body = ("\n".join(line for _, line in rows) + "\n").encode() if rows else b""
        parsed = parse_log(body, f"{bucket}/{day}")
        assert len(parsed.rejects) == 0, parsed.rejects.to_pylist()[:2]
        assert len(parsed.records) == len(rows)
        assert set(parsed.records["field_count"].to_pylist()) <= {FIELDS}
        out[bucket] = parsed.records.to_pylist()
    return out


def day(n: int) -> date:
    return SMALL.start + timedelta(days=n)


def test_imports_nothing_from_the_first_estate():
    """Only the standard library, numpy and the estate's own modules (estate_lab and its
    lab_* parts): nothing of pipelines.synthetic.estate, pipelines.synthetic.incidents or
    pipelines.synthetic.synth (nor of anything else in pipelines that could lead to them)."""
    folder = ROOT / "pipelines" / "synthetic"
    own = ["estate_lab", *sorted(p.stem for p in folder.glob("lab_*.py"))]
    ours = {f"pipelines.synthetic.{name}" for name in own}
    for name in own:
        tree = ast.parse((folder / f"{name}.py").read_text())
        modules = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                if base in ours:
                    continue
                modules |= {f"{base}.{a.name}".replace("..", ".") for a in node.names} | {base}
        for forbidden in ("estate", "incidents", "synth"):
            assert not any(re.search(rf"(^|\.){forbidden}(\.|$)", m) for m in modules), \
                (name, modules)
        assert not any(m.startswith(".") or m.startswith("pipelines") for m in modules), \
            (name, modules)
        allowed = {"__future__", "base64", "math", "os", "collections", "dataclasses",
                   "datetime", "pathlib", "numpy"}
        assert {m.split(".")[0] for m in modules} <= allowed, (name, modules)


def test_same_seed_same_objects_other_seed_other_objects():
    cfg = replace(SMALL, days=2, scale=0.05)
    first = list(lab.generate_objects(cfg))
    assert first == list(lab.generate_objects(cfg))
    assert first != list(lab.generate_objects(replace(cfg, seed=4)))
    for key, body in first:
        assert re.fullmatch(r"logs/\d{4}(-\d\d){5}-[0-9A-F]{16}", key), key
        assert parse_key(key[len("logs/"):]) is not None
        assert body.endswith(b"\n")


def test_write_objects_lays_them_out_as_the_evaluation_ingests_them(tmp_path):
    keys = lab.write_objects(replace(SMALL, days=1, scale=0.05), tmp_path)
    assert keys and all((tmp_path / k).is_file() for k in keys)
    assert {p.parent for p in tmp_path.rglob("*") if p.is_file()} == {tmp_path / "logs"}
    text = b"".join((tmp_path / k).read_bytes() for k in keys)
    parsed = parse_log(text)
    assert len(parsed.rejects) == 0 and len(parsed.records) > 1000
    assert set(parsed.records["bucket"].to_pylist()) == set(BUCKETS)


def test_planting_leaves_the_benign_traffic_as_it_was():
    """The evaluation counts a planted run's findings that the benign run has not: every
    line of the benign run must be in the planted run, except those an incident silences."""
    for n in (14, 18):
        benign, planted = lab.day_lines(SMALL, day(n)), lab.day_lines(PLANTED, day(n))
        for bucket in BUCKETS:
            silenced = [p for p in PLANTED.incidents if p.day == day(n)
                        and INCIDENTS[p.incident].bucket == bucket
                        and INCIDENTS[p.incident].silent_hours]
            if silenced:
                continue
            kept = Counter(line for _, line in planted[bucket])
            assert all(kept[line] for _, line in benign[bucket]), (n, bucket)
    assert lab.day_lines(SMALL, day(3)) == lab.day_lines(PLANTED, day(3))


def test_routine_rhythms_and_benign_events_are_there():
    events = benign_events(SMALL)
    assert events == {"holiday": day(14), "key_rotation": day(15), "new_service": day(16),
                      "viral": day(17)}
    assert day(14).weekday() == 0 and day(14) == date(2027, 2, 15)   # Presidents' Day

    def count(n, bucket=None, who=None, op=None):
        return sum(1 for b, rs in records(SMALL, day(n)).items() if bucket in (None, b)
                   for r in rs if (who is None or (r["requester"] or "").startswith(who))
                   and (op is None or r["operation"] == op))

    # the holiday: people's traffic at about a fifth of the Monday before
    scanners = iam_user("scanner-site-")
    assert count(14, who=scanners) < 0.35 * count(7, who=scanners)
    assert count(14) < 0.5 * count(7)
    # a weekend dip in lab hours
    emr = assumed(EMR)
    assert count(13, who=emr) < 0.4 * count(8, who=emr)
    # routine deletes every day, 100-140, in multi-object deletes
    cleanup = assumed(CLEANUP)
    for n in (14, 15, 18):
        assert 100 <= count(n, who=cleanup, op="BATCH.DELETE.OBJECT") <= 140
        assert count(n, who=cleanup, op="REST.DELETE.OBJECT") == 0
    # the key rotation: a handful of InvalidAccessKeyId from site B's usual address, then
    # site B as usual
    rotation = [r for r in records(SMALL, day(15))["imaging-uploads"]
                if r["error_code"] == "InvalidAccessKeyId"]
    assert 4 <= len(rotation) < 20
    assert {r["remote_ip"] for r in rotation} == {SITES["b"][1]}
    last = max(r["request_time"] for r in rotation)
    assert any(r["requester"] == iam_user("scanner-site-b") and r["request_time"] > last
               and r["remote_ip"] == SITES["b"][1]
               for r in records(SMALL, day(15))["imaging-uploads"])
    # the new service: from its first day on, never before
    caller = assumed(VARIANT_CALLER)
    assert count(15, who=caller) == 0 and count(16, who=caller) > 100
    assert count(18, who=caller) > 100
    policy = (ROOT / "examples" / "lab" / "policies.yaml").read_text()
    assert f"{caller}/*" in policy
    # the viral day: ten times the anonymous reads, mostly from addresses never seen
    def anonymous(n):
        return [r for r in records(SMALL, day(n))["open-genomes"] if r["requester"] is None]
    viral, week_before = anonymous(17), anonymous(10)
    assert len(viral) > 6 * len(week_before)
    seen = {r["remote_ip"] for n in (3, 10) for r in anonymous(n)}
    fresh = {r["remote_ip"] for r in viral} - seen
    assert len(fresh) > 5 * len({r["remote_ip"] for r in week_before})
    # ranged reads, IPv6 consumers, presigned reads, AWS's own traffic
    genomes = records(SMALL, day(10))["open-genomes"]
    assert sum(r["http_status"] == 206 for r in genomes) > len(genomes) / 3
    assert any(":" in (r["remote_ip"] or "") for r in genomes)
    imaging = records(SMALL, day(10))["imaging-uploads"]
    assert any(r["authentication_type"] == "QueryString"
               and r["requester"].startswith(assumed(VIEWER)) for r in imaging)
    warehouse = records(SMALL, day(10))["lab-warehouse"]
    assert any((r["requester"] or "").startswith(assumed(LAKE_FORMATION))
               for r in warehouse)


@pytest.mark.parametrize("name", list(INCIDENTS))
def test_each_incident_is_on_its_day_and_names_who_it_says(name):
    incident = INCIDENTS[name]
    planted = next(p for p in PLANTED.incidents if p.incident == name)
    assert day(14) <= planted.day <= day(20)
    benign = records(SMALL, planted.day)[incident.bucket]
    ours = records(PLANTED, planted.day)[incident.bucket]
    ids = Counter(r["record_id"] for r in benign)
    added = [r for r in ours if not ids[r["record_id"]]]
    assert added, name

    def principal(r):
        who = r["requester"]
        return "anonymous" if who is None else re.sub(r"^(arn:aws:sts::\d+:assumed-role/[^/]+)/.*",
                                                      r"\1", who)

    assert any((incident.principal is not None and principal(r) == incident.principal)
               or (incident.address is not None and r["remote_ip"] == incident.address)
               for r in added), name
    if incident.silent_hours:
        lo, hi = incident.silent_hours
        assert any(lo <= r["request_time"].hour < hi for r in benign)
        assert not any(lo <= r["request_time"].hour < hi for r in ours)
    # on no other day
    for n in range(14, 21):
        if day(n) != planted.day:
            other = records(PLANTED, day(n))[incident.bucket]
            assert not any(r["remote_ip"] == incident.address for r in other
                           if incident.address), (name, n)


def test_incident_stories_and_the_threat_list():
    assert len(INCIDENTS) >= 7
    for incident in INCIDENTS.values():
        assert incident.bucket in BUCKETS and incident.story and incident.detections
        assert incident.principal or incident.address or incident.silent_hours
    listed = [ipaddress.ip_network(line.split(",")[0])
              for line in (ROOT / "examples" / "lab" / "threat_list.csv").read_text().splitlines()
              if line and not line.startswith(("#", "cidr,"))]
    used = {i.address for i in INCIDENTS.values() if i.address}
    on_list = {a for a in used if any(ipaddress.ip_address(a) in n for n in listed)}
    assert len(on_list) <= 1
    # no benign consumer lands on the list or on an incident's address
    pool = set(consumer_addresses(np.arange(40_000), 17)
               + consumer_addresses(np.arange(10_000_000, 10_030_000), 23))
    assert not pool & used
    for a in pool:
        ip = ipaddress.ip_address(a)
        assert ip.is_global and not any(ip in n for n in listed), a
