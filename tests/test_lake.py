"""Ingestion from a real S3 endpoint (moto over HTTP) into the Parquet lake."""

from __future__ import annotations

import gzip
import os
import time
from dataclasses import replace
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import s3fs
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.ingestion.ingest import ingest, recheck_trailing
from pipelines.ingestion.layout import KeyLayout
from pipelines.ingestion.planning import trailing_days
from pipelines.ingestion.sources import LogSource
from pipelines.ingestion.units import current
from pipelines.lake.manifest import Unit
from pipelines.lake.parquet_files import canonical
from pipelines.lake.store import LAKE_SCHEMA, Lake, LakeWriteError
from pipelines.parsing.parse import parse_log
from pipelines.sql import checks
from pipelines.synthetic.synth import ACCOUNT, SynthConfig, generate_objects
from tests.helpers import run, upload
from tests.loglines import line
from tests.s3server import DENIED, INTERNAL, SLOW_DOWN, Fault

CFG = SynthConfig(days=3, records_per_day=300, records_per_object=40, late_fraction=0.1,
                  duplicate_fraction=0.05, gzip_fraction=0.1)
DAYS = [CFG.start + timedelta(days=i) for i in range(CFG.days + 3)]  # late ones spill over


def lake_rows(lake: Lake) -> list[dict]:
    table = lake.dataset().to_table()
    table = table.take(pc.sort_indices(table, [("record_id", "ascending")]))
    return table.to_pylist()


def reconciled(report) -> None:
    for d in report.days:
        assert d.lines_read == d.rows_parsed + d.rows_quarantined


def test_simple_prefix_from_s3(s3, tmp_path):
    upload(s3, "target-logs", generate_objects(CFG))
    source, lake = LogSource("s3://target-logs/logs/"), Lake(str(tmp_path / "lake"))
    assert source.layout == KeyLayout("simple")
    report = ingest([source], lake, DAYS, progress=False)
    reconciled(report)
    objects = list(generate_objects(CFG))
    assert report.total("objects_ingested") == len(objects)
    assert report.requests["GET"] == len(objects)
    assert report.requests["LIST"] == len(DAYS)  # one page per day (layout sampled above)
    rows = lake_rows(lake)
    assert len(rows) == report.total("rows_parsed") - report.duplicates_dropped
    assert len({r["record_id"] for r in rows}) == len(rows)  # S3's duplicates stored once
    assert report.duplicates_dropped > 0
    assert {r["bucket"] for r in rows} == set(CFG.buckets)
    for r in rows:  # dt is the record's UTC event date
        assert r["dt"] == r["request_time"].date().isoformat()
    manifest = current(lake, Unit(source.id, DAYS[0].isoformat()))
    entry = next(iter(manifest.objects.values()))
    assert entry.size > 0 and entry.etag and entry.last_modified and entry.partitions
    assert entry.lines == entry.records + entry.rejects and manifest.balanced
    saved = lake.read_json(lake.path("_manifests", Unit(source.id, DAYS[0].isoformat()).path,
                                     f"v{manifest.version:06d}.json"))
    assert saved["totals"]["lines"] == saved["totals"]["records"] + saved["totals"]["rejects"]


def test_rerun_with_nothing_new_makes_no_get_and_changes_nothing(s3, tmp_path):
    upload(s3, "target-logs", generate_objects(CFG))
    source, lake = LogSource("s3://target-logs/logs/"), Lake(str(tmp_path / "lake"))
    ingest([source], lake, DAYS, progress=False)
    before = lake.snapshot()
    mtimes = {p: os.stat(lake.loc.path + p).st_mtime_ns for p in before}
    again = ingest([source], lake, DAYS, progress=False)
    assert again.requests["GET"] == 0 and again.lake_requests["PUT"] == 0
    assert again.total("objects_unchanged") == len(list(generate_objects(CFG)))
    assert {p: os.stat(lake.loc.path + p).st_mtime_ns for p in before} == mtimes


def test_forced_rerun_is_byte_identical(s3, tmp_path):
    upload(s3, "target-logs", generate_objects(CFG))
    source, lake = LogSource("s3://target-logs/logs/"), Lake(str(tmp_path / "lake"))
    ingest([source], lake, DAYS, progress=False)
    first = lake.snapshot()
    report = ingest([source], lake, DAYS, force=True, progress=False)
    assert report.requests["GET"] > 0
    assert lake.snapshot() == first


@pytest.mark.parametrize("date_source", ["EventTime", "DeliveryTime"])
def test_partitioned_prefix_gives_the_same_lake_as_simple_prefix(s3, tmp_path, date_source):
    cfg = replace(CFG, layout="partitioned", partition_date_source=date_source)
    upload(s3, "target-logs", generate_objects(cfg))
    upload(s3, "target-logs", ((k.replace("logs/", "simple/", 1), b) for k, b in
                               generate_objects(CFG)))
    part = LogSource("s3://target-logs/logs/")
    assert part.layout == KeyLayout("partitioned", date_source)
    lake_p, lake_s = Lake(str(tmp_path / "p")), Lake(str(tmp_path / "s"))
    report = ingest([part], lake_p, DAYS, progress=False)
    reconciled(report)
    ingest([LogSource("s3://target-logs/simple/")], lake_s, DAYS, progress=False)
    strip = [{k: v for k, v in r.items() if k != "source_key"} for r in lake_rows(lake_p)]
    assert strip == [{k: v for k, v in r.items() if k != "source_key"}
                     for r in lake_rows(lake_s)]
    # a day costs one LIST per source bucket folder, after discovering the folders once
    discovery = 1 + 1 + 1  # accounts, regions, buckets (one region, one account)
    assert report.requests["LIST"] == discovery + len(DAYS) * len(CFG.buckets)


def test_several_sources_and_buckets_feed_one_lake(s3, tmp_path):
    a = replace(CFG, buckets=("alpha-site", "beta-data"), prefix="a/", seed=1)
    b = replace(CFG, buckets=("gamma.logs.example",), prefix="b/", layout="partitioned",
                seed=2)
    upload(s3, "target-logs", generate_objects(a))
    upload(s3, "target-logs", generate_objects(b))
    lake = Lake(str(tmp_path / "lake"))
    sources = [LogSource("s3://target-logs/a/"), LogSource("s3://target-logs/b/")]
    report = ingest(sources, lake, DAYS, progress=False)
    reconciled(report)
    assert report.buckets == ["alpha-site", "beta-data", "gamma.logs.example"]
    rows = lake_rows(lake)
    assert {r["source_key"].split("/")[3] for r in rows} == {"a", "b"}


def test_pagination_past_1000_keys(s3, tmp_path):
    body = b"\n".join(line(key=f"k{i}") for i in range(2)) + b"\n"
    keys = [(f"logs/2026-11-16-{h:02d}-{m:02d}-{s:02d}-{i:016X}", body)
            for i, (h, m, s) in enumerate((i // 3600, i // 60 % 60, i % 60)
                                          for i in range(1100))]
    upload(s3, "target-logs", keys)
    source, lake = LogSource("s3://target-logs/logs/", layout="simple"), \
        Lake(str(tmp_path / "lake"))
    report = ingest([source], lake, [date(2026, 11, 16)], progress=False)
    assert report.days[0].objects_listed == 1100
    assert report.requests["LIST"] == 2 and report.requests["GET"] == 1100
    assert report.duplicates_dropped == 2 * 1100 - 2  # the same two lines each time


def test_late_object_for_an_old_day_rewrites_only_what_it_touches(s3, tmp_path):
    cfg = replace(CFG, layout="partitioned", late_fraction=0)
    upload(s3, "target-logs", generate_objects(cfg))
    source, lake = LogSource("s3://target-logs/logs/"), Lake(str(tmp_path / "lake"))
    ingest([source], lake, DAYS, progress=False)
    before = lake.snapshot()
    day = DAYS[0]
    late = line(bucket="shop-assets", time=f"[{day:%d/%b/%Y}:23:59:59 +0000]",
                key="late/arrival.bin")
    late_key = (f"logs/{ACCOUNT}/us-east-1/shop-assets/{day:%Y/%m/%d}/"
                f"{day:%Y-%m-%d}-00-00-00-FEEDFACE00000001")
    s3.put_object(Bucket="target-logs", Key=late_key, Body=late + b"\n")
    report = recheck_trailing([source], lake, DAYS[0] + timedelta(days=3), 3, progress=False)
    assert [d.day for d in report.days] == [d.isoformat() for d in trailing_days(
        DAYS[3], 3)]
    assert report.requests["GET"] == 1
    after = lake.snapshot()
    changed = {p for p in after if before.get(p) != after[p]}
    assert changed == {f"access_logs/dt={day}/bucket=shop-assets/part-00000.parquet"}
    keys = pq.read_table(lake.loc.path + changed.pop())["key"].to_pylist()
    assert "late/arrival.bin" in keys


def test_object_delivered_twice_is_stored_once(s3, tmp_path):
    body = b"\n".join(line(key=f"twice-{i}") for i in range(5)) + b"\n"
    upload(s3, "target-logs", [("logs/2026-11-24-04-00-00-AAAAAAAAAAAAAAAA", body),
                               ("logs/2026-11-24-04-00-01-BBBBBBBBBBBBBBBB", body)])
    lake = Lake(str(tmp_path / "lake"))
    report = ingest([LogSource("s3://target-logs/logs/")], lake, [date(2026, 11, 24)],
                    progress=False)
    assert report.total("rows_parsed") == 10 and report.duplicates_dropped == 5
    rows = lake_rows(lake)
    assert sorted(r["key"] for r in rows) == [f"twice-{i}" for i in range(5)]
    assert all(r["source_key"].endswith("AAAAAAAAAAAAAAAA") for r in rows)  # smallest key wins


def test_empty_gzip_and_garbage_objects(s3, tmp_path):
    good = b"\n".join(line(key=f"g{i}") for i in range(3)) + b"\n"
    upload(s3, "target-logs", [
        ("logs/2026-11-24-01-00-00-0000000000000001", b""),
        ("logs/2026-11-24-01-00-00-0000000000000002", gzip.compress(good)),
        ("logs/2026-11-24-01-00-00-0000000000000003", b"\x00\x01garbage\n<html>oops</html>\n"),
        ("logs/2026-11-24-01-00-00-0000000000000004", gzip.compress(good)[:30]),
    ])
    lake = Lake(str(tmp_path / "lake"))
    report = ingest([LogSource("s3://target-logs/logs/", layout="simple")], lake,
                    [date(2026, 11, 24)], progress=False)
    day = report.days[0]
    assert day.objects_ingested == 4 and day.rows_parsed == 3
    assert day.lines_read == day.rows_parsed + day.rows_quarantined
    quarantine = pq.read_table(lake.files("quarantine")[0]).to_pylist()
    assert [q["raw_line"] for q in quarantine if q["source_key"].endswith("3")] == \
        [b"\x00\x01garbage", b"<html>oops</html>"]
    assert any("gzip" in q["reason"] for q in quarantine if q["source_key"].endswith("4"))
    assert lake.files("quarantine")[0].startswith(lake.path("quarantine", "dt=2026-11-24"))


@pytest.mark.parametrize("evil", ["../../escaped", "a/b", "..", "x" * 300, "UPPER..DOTS"])
def test_bucket_names_that_could_escape_their_folder_are_quarantined(s3, tmp_path, evil):
    body = line(bucket=evil) + b"\n" + line(key="fine") + b"\n"
    upload(s3, "target-logs", [("logs/2026-11-24-01-00-00-0000000000000001", body)])
    root = tmp_path / "inner" / "lake"
    lake = Lake(str(root))
    report = ingest([LogSource("s3://target-logs/logs/", layout="simple")], lake,
                    [date(2026, 11, 24)], progress=False)
    assert report.days[0].rows_quarantined == 1 and report.days[0].rows_parsed == 1
    everything = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(str(p).startswith(str(root)) for p in everything)
    q = pq.read_table(lake.files("quarantine")[0]).to_pylist()
    assert q[0]["raw_line"] == line(bucket=evil) and "bucket name" in q[0]["reason"]


def test_lake_on_s3_equals_lake_on_disk(s3, tmp_path):
    upload(s3, "target-logs", generate_objects(CFG))
    on_disk, on_s3 = Lake(str(tmp_path / "lake")), Lake("s3://lake/warehouse")
    ingest([LogSource("s3://target-logs/logs/")], on_disk, DAYS, progress=False)
    report = ingest([LogSource("s3://target-logs/logs/")], on_s3, DAYS, progress=False)
    # every file written once: visible files, and per unit its staging files and manifest,
    # and per rebuilt folder the record of what it was built from; the lake's format
    # marker; two for the check that the store refuses a second conditional create
    kept = [len(on_s3.find(on_s3.path(f))) for f in ("_staging", "_manifests", "_compacted")]
    assert report.lake_requests["PUT"] == len(on_s3.snapshot()) + sum(kept) + 1 + 2
    assert not on_s3.find(on_s3.path("_probe"))
    assert kept[1] == len(DAYS)  # one manifest version per source and day
    assert lake_rows(on_s3) == lake_rows(on_disk)
    assert on_s3.snapshot() == on_disk.snapshot()  # byte for byte, path for path


def test_throttled_gets_are_retried(s3, tmp_path, fault_proxy):
    upload(s3, "target-logs", generate_objects(CFG))
    fault = Fault("GET", r"^/target-logs/logs/\d{4}-", SLOW_DOWN, every=3)
    fault_proxy.faults.append(fault)
    source = LogSource("s3://target-logs/logs/", endpoint=fault_proxy.url)
    lake = Lake(str(tmp_path / "lake"))
    report = ingest([source], lake, DAYS, progress=False)
    n = len(list(generate_objects(CFG)))
    assert fault.injected > 0 and report.total("objects_ingested") == n
    assert report.requests["GET"] == n + fault.injected  # every attempt is counted
    reference = Lake(str(tmp_path / "ref"))
    ingest([LogSource("s3://target-logs/logs/")], reference, DAYS, progress=False)
    assert lake.snapshot() == reference.snapshot()


def test_an_object_that_keeps_failing_is_named_and_the_rest_is_kept(s3, tmp_path,
                                                                    fault_proxy):
    """It used to stop the run after 96 attempts and 102 s, throwing away the work on
    every other object; now it costs a few attempts, is named, and the next run gets it."""
    upload(s3, "target-logs", generate_objects(CFG))
    broken = sorted(k for k, _ in generate_objects(CFG))[5]
    fault = Fault("GET", "/target-logs/" + broken + "$", INTERNAL)
    fault_proxy.faults.append(fault)
    source = LogSource("s3://target-logs/logs/", endpoint=fault_proxy.url)
    lake = Lake(str(tmp_path / "lake"))
    started = time.perf_counter()
    report = ingest([source], lake, DAYS, progress=False)
    assert time.perf_counter() - started < 30 and fault.injected <= 8
    failed = [f for d in report.days for f in d.objects_failed]
    assert len(failed) == 1 and failed[0].startswith(f"s3://target-logs/{broken}: ")
    assert report.total("objects_ingested") == len(list(generate_objects(CFG))) - 1
    results = {r.name: r for r in checks.ingestion(report, lake, DAYS).results}
    assert not results["objects_read"].passed and broken in results["objects_read"].summary
    assert results["listing_in_manifest"].passed  # it is not claimed as ingested
    fault_proxy.faults.clear()
    again = ingest([source], lake, DAYS, progress=False)
    assert again.requests["GET"] == 1 and again.total("objects_ingested") == 1
    reference = Lake(str(tmp_path / "ref"))
    ingest([LogSource("s3://target-logs/logs/")], reference, DAYS, progress=False)
    assert lake.snapshot() == reference.snapshot()


def test_rows_of_a_large_object_that_fails_half_read_are_not_committed(s3, tmp_path,
                                                                       fault_proxy,
                                                                       monkeypatch):
    """A large object is parsed as it streams in ranged GETs; when a later GET keeps
    failing, the rows already routed to the spill are dropped with the object, which the
    next run reads again whole."""
    monkeypatch.setattr(s3fs.S3FileSystem, "default_block_size", 4 << 20)  # 7 GETs
    big_key = "logs/2026-11-16-23-59-59-0000000000B16B16"
    big = b"".join(line(key=f"big/{i}", time="[16/Nov/2026:23:59:59 +0000]") + b"\n"
                   for i in range(80_000))  # 28 MB: streamed (fetch.STREAM_BYTES)
    upload(s3, "target-logs", [*generate_objects(CFG), (big_key, big)])
    fault = Fault("GET", "/target-logs/" + big_key + "$", INTERNAL, after=5)
    fault_proxy.faults.append(fault)
    source = LogSource("s3://target-logs/logs/", endpoint=fault_proxy.url)
    lake = Lake(str(tmp_path / "lake"))
    report = ingest([source], lake, DAYS, progress=False)
    assert fault.injected and [f.split(": ")[0] for d in report.days
                               for f in d.objects_failed] == [f"s3://target-logs/{big_key}"]
    keys = lake.dataset().to_table(columns=["key"])["key"].to_pylist()
    assert keys and not [k for k in keys if k and k.startswith("big/")]
    fault_proxy.faults.clear()
    ingest([source], lake, DAYS, progress=False)
    reference = Lake(str(tmp_path / "ref"))
    ingest([LogSource("s3://target-logs/logs/")], reference, DAYS, progress=False)
    assert lake.snapshot() == reference.snapshot()


@pytest.mark.parametrize("after", [4, 20, 35])
def test_run_killed_halfway_then_rerun_gives_the_clean_lake(s3, tmp_path, fault_proxy, after):
    """The lake's storage starts refusing writes after `after` of them: the run dies while
    staging, around its commits, or while rebuilding what readers see."""
    upload(s3, "target-logs", generate_objects(CFG))
    reference = Lake("s3://lake/reference")
    ingest([LogSource("s3://target-logs/logs/")], reference, DAYS, progress=False)
    fault_proxy.faults.append(Fault("PUT", r"^/lake/broken/", DENIED, after=after))
    broken = Lake("s3://lake/broken", endpoint=fault_proxy.url)
    try:  # the units that failed say so, the others go on; or the rebuild fails
        report = ingest([LogSource("s3://target-logs/logs/")], broken, DAYS, progress=False)
        errors = [d.error for d in report.days if d.error]
        assert errors and all("could not write s3://lake/broken/" in e for e in errors)
    except LakeWriteError as e:
        assert "could not write s3://lake/broken/" in str(e)
    partial = broken.snapshot()
    assert len(partial) < len(reference.snapshot())
    if partial:
        rows = lake_rows(broken)
        assert len({r["record_id"] for r in rows}) == len(rows)  # never duplicates
    fault_proxy.faults.clear()
    ingest([LogSource("s3://target-logs/logs/")], broken, DAYS, progress=False)
    assert broken.snapshot() == reference.snapshot()


def test_objects_in_neither_layout_are_reported_not_skipped_silently(s3, tmp_path):
    cfg = replace(CFG, layout="partitioned", days=1)
    upload(s3, "target-logs", generate_objects(cfg))
    folder = f"logs/{ACCOUNT}/us-east-1/shop-assets/{CFG.start:%Y/%m/%d}/"
    upload(s3, "target-logs", [(folder + "README.txt", b"hello"),
                               (folder + "2026-13-45-00-00-00-ABCDEF", b"bad date")])
    report = ingest([LogSource("s3://target-logs/logs/")], Lake(str(tmp_path / "lake")),
                    [CFG.start], progress=False)
    assert sorted(report.days[0].unrecognized_keys) == [
        f"s3://target-logs/{folder}2026-13-45-00-00-00-ABCDEF",
        f"s3://target-logs/{folder}README.txt"]


def test_cli_ingest_prints_the_reconciled_report(s3, tmp_path):
    upload(s3, "target-logs", generate_objects(replace(CFG, days=1)))
    out = run("ingest", "--source", "s3://target-logs/logs/", "--lake", str(tmp_path / "l"),
              "--days", f"{CFG.start}..{CFG.start + timedelta(days=1)}", "--quiet")
    assert out.returncode == 0, out.stderr
    assert "lines read =" in out.stdout and " GET to sources" in out.stdout
    again = run("ingest", "--source", "s3://target-logs/logs/", "--lake", str(tmp_path / "l"),
                "--trailing", "2", "--today", str(CFG.start + timedelta(days=2)), "--quiet")
    assert "0 GET to sources" in again.stdout
    bad = run("ingest", "--source", "s3://target-logs/nothing-here/", "--lake",
              str(tmp_path / "l"), "--days", str(CFG.start))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "no log objects found" in bad.stderr


def test_a_late_object_that_sorts_before_the_known_ones_is_found(s3, tmp_path):
    """Delivery keeps no order: an object named 02:00 may arrive after 19:59 ones. The
    re-check used to list only after the newest known key less an hour, so it never saw
    it (2 LIST, 0 GET); a re-check lists the day in full and fetches only what is new,
    whether it is asked for the day or for the trailing days."""
    day = date(2026, 11, 24)
    body = line() + b"\n"
    keys = [(f"logs/{day}-{h:02d}-{m:02d}-00-{h * 60 + m:016X}", body)
            for h in range(24) for m in range(0, 60, 1)][:1200]  # 20 hours, 1,200 objects
    upload(s3, "target-logs", keys)
    source, lake = LogSource("s3://target-logs/logs/", layout="simple"), \
        Lake(str(tmp_path / "lake"))
    assert ingest([source], lake, [day], progress=False).requests["LIST"] == 2
    for late_key, recheck in (
            ("late1", lambda: ingest([source], lake, [day], progress=False)),
            ("late2", lambda: recheck_trailing([source], lake, day + timedelta(days=1), 1,
                                                progress=False))):
        s3.put_object(Bucket="target-logs", Key=f"logs/{day}-02-00-00-{late_key.upper()}",
                      Body=line(key=late_key) + b"\n")  # hours before the newest known key
        again = recheck()
        assert again.requests == {"LIST": 2, "GET": 1}  # the day listed whole, one read
        assert again.days[0].objects_ingested == 1
        assert late_key in lake.dataset().to_table(columns=["key"])["key"].to_pylist()


def _canonical_by_sorting(table: pa.Table) -> pa.Table:
    """The definition: sort by (record_id, source_key, line_number), keep the first of each
    record_id, sort by (request_time, record_id)."""
    table = table.take(pc.sort_indices(table, [("record_id", "ascending"),
                                               ("source_key", "ascending"),
                                               ("line_number", "ascending")]))
    ids = table["record_id"].to_pylist()
    table = table.filter(pa.array([i == 0 or ids[i] != ids[i - 1] for i in range(len(ids))],
                                  pa.bool_()))
    return table.take(pc.sort_indices(table, [("request_time", "ascending"),
                                              ("record_id", "ascending")]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(["a", "b", "c"]),
                          st.integers(1, 3), st.integers(0, 3)), max_size=40),
       st.randoms())
def test_canonical_keeps_one_row_per_record_and_orders_them(rows, rnd):
    """Rows delivered twice (same id) keep the one of the smallest (source_key,
    line_number); rows of one time are ordered by id, whatever the input order."""
    rnd.shuffle(rows)
    table = pa.table({
        "record_id": pa.array([bytes([7 * i % 256]) * 8 + bytes([i]) * 8
                               for i, *_ in rows], pa.binary(16)),
        "source_key": [k for _, k, _, _ in rows],
        "line_number": pa.array([n for _, _, n, _ in rows], pa.int32()),
        "request_time": pa.array([t * 1_000_000 for *_, t in rows], pa.timestamp("us")),
        "order_in": list(range(len(rows)))})
    assert canonical(table).drop_columns("order_in") == \
        _canonical_by_sorting(table).drop_columns("order_in")


def test_record_checks_read_one_partition_at_a_time_and_name_the_one_with_a_duplicate(
        tmp_path):
    """The record checks see a partition's files together (a record in two files of one
    folder is a duplicate) but never the run's days at once; the preview is a few rows."""
    lake = Lake(str(tmp_path / "lake"))
    for bucket, files in (("clean-bucket", 1), ("twice-bucket", 2)):
        folder = lake.path("access_logs", "dt=2026-11-16", f"bucket={bucket}")
        os.makedirs(folder)
        rows = parse_log(b"\n".join(line(bucket=bucket, key=f"k{i}") for i in range(7))
                         + b"\n", bucket).records.select(LAKE_SCHEMA.names)
        for n in range(files):
            pq.write_table(rows, f"{folder}/part-{n:05d}.parquet")
    other = lake.path("access_logs", "dt=2026-11-17", "bucket=twice-bucket")
    os.makedirs(other)  # the same records on another day: not the days checked
    pq.write_table(rows, f"{other}/part-00000.parquet")
    counts = checks.RecordCounts.of(lake, ["2026-11-16"])
    assert (counts.duplicates, counts.partitions) == (7, ["dt=2026-11-16/bucket=twice-bucket"])
    assert counts.preview.num_rows == checks.PREVIEW_ROWS
    assert counts.preview.column_names == checks.PREVIEW_COLUMNS
    unique, = [r for r in counts.results() if r.name == "unique_record_ids"]
    assert not unique.passed and unique.metadata["duplicates"] == 7
    assert checks.RecordCounts.of(Lake(str(tmp_path / "none")), ["2026-11-16"]).preview is None
