"""Runs at the same time lose nothing: whatever the interleaving, the lake ends equal to
one clean sequential run."""

from __future__ import annotations

import os
import threading

import pytest

from pipelines.ingestion.ingest import ingest
from pipelines.ingestion.sources import LogSource
from pipelines.lake.store import Lake
from tests.helpers import D1, D2, late_logs
from tests.loglines import line


@pytest.mark.parametrize("paused", ["first", "second"])
def test_a_run_that_writes_last_with_stale_data_loses_nothing(tmp_path, paused):
    """Run A pauses just before writing its first records partition; run B ingests the
    other day meanwhile and finishes; then A goes on. Before runs were safe together, A's
    write (built from what it read before B) replaced B's rows: rows lost, and the
    manifests claimed them, so no later run brought them back."""
    logs = tmp_path / "logs"
    late_logs(logs)
    reference = Lake(str(tmp_path / "reference"))
    ingest([LogSource(str(logs), layout="simple")], reference, [D1, D2], progress=False)

    lake_a, lake_b = Lake(str(tmp_path / "lake")), Lake(str(tmp_path / "lake"))
    b_done, a_waiting = threading.Event(), threading.Event()
    writes = {"n": 0}
    lock = threading.Lock()
    original = Lake._put

    def paused_put(self, path, data):
        with lock:
            mine = "/access_logs/" in path and self is lake_a
            writes["n"] += mine
            n = writes["n"]
        if mine and n == (1 if paused == "first" else 2):
            a_waiting.set()
            assert b_done.wait(60)
        return original(self, path, data)

    Lake._put = paused_put
    try:
        a = threading.Thread(target=ingest, name="run-a", args=(
            [LogSource(str(logs), layout="simple")], lake_a, [D1]), kwargs={"progress": False})
        a.start()
        assert a_waiting.wait(60)
        ingest([LogSource(str(logs), layout="simple")], lake_b, [D2], progress=False)
        b_done.set()
        a.join(60)
    finally:
        Lake._put = original
    assert lake_a.snapshot() == reference.snapshot()
    # and a later run of both days, with nothing new, changes nothing
    again = ingest([LogSource(str(logs), layout="simple")], lake_a, [D1, D2], progress=False)
    assert again.requests["GET"] == 0 and lake_a.snapshot() == reference.snapshot()


def test_concurrent_runs_killed_at_random_end_as_one_sequential_run(tmp_path):
    """`make stress` runs this for many rounds and seeds (and with the lake on S3)."""
    from tests import stress

    out = stress.run(tmp_path, str(tmp_path / "lake"), rounds=3, processes=3, seed=7)
    assert out.killed and out.identical, out.differences


def test_a_lake_written_before_staging_is_adopted_without_losing_a_row(tmp_path):
    """Lakes written by earlier versions have one manifest file per unit and no staging:
    the first run migrates every unit from the rows the lake shows before it rebuilds
    anything. Migrating only the units a run meets lost the rows that units of other days
    (here day 1, not in the run) had in a folder the run rebuilt."""
    import json
    import shutil

    from pipelines.lake.store import json_bytes

    logs = tmp_path / "logs"
    late_logs(logs)
    lake = Lake(str(tmp_path / "lake"))
    ingest([LogSource(str(logs), layout="simple")], lake, [D1, D2], progress=False)
    for table in ("_staging", "_compacted"):  # back to how an earlier version left it
        shutil.rmtree(tmp_path / "lake" / table)
    (tmp_path / "lake" / "_lake.json").unlink()
    for folder in (tmp_path / "lake" / "_manifests").glob("source=*/day=*"):
        (version,) = folder.glob("v*.json")
        old = json.loads(version.read_text())
        for key in ("version", "run", "staging"):
            old.pop(key)
        folder.with_name(folder.name + ".json").write_bytes(json_bytes(old))
        shutil.rmtree(folder)
    (logs / f"{D2}-09-00-00-{0xABC:016X}").write_bytes(
        line(bucket="shared-bucket", time=f"[{D1:%d/%b/%Y}:23:00:00 +0000]", key="new") + b"\n")
    again = ingest([LogSource(str(logs), layout="simple")], lake, [D2], progress=False)
    assert again.requests["GET"] == 1
    assert not list((tmp_path / "lake" / "_manifests").glob("source=*/day=*.json"))
    reference = Lake(str(tmp_path / "reference"))
    ingest([LogSource(str(logs), layout="simple")], reference, [D1, D2], progress=False)
    assert lake.snapshot() == reference.snapshot()


def test_a_stale_file_left_by_a_killed_writer_is_rebuilt_by_the_next_run(tmp_path):
    """A writer killed between writing a partition (from inputs it read before a newer
    commit) and recording it left stale rows that the record of an earlier, good rebuild
    vouched for: the next runs saw nothing to do. Now the record names the bytes written."""
    import pyarrow.parquet as pq

    from pipelines.lake.parquet_files import parquet_bytes

    logs = tmp_path / "logs"
    late_logs(logs)
    lake = Lake(str(tmp_path / "lake"))
    ingest([LogSource(str(logs), layout="simple")], lake, [D1, D2], progress=False)
    good = lake.snapshot()
    part = next(p for p in lake.files() if "dt=2026-11-21" in p)
    stale = pq.read_table(part).slice(0, 10)  # rows from before day 2 was committed
    tmp = part + ".stale"
    with open(tmp, "wb") as f:
        f.write(parquet_bytes(stale, "request_time"))
    os.replace(tmp, part)
    assert lake.snapshot() != good
    again = ingest([LogSource(str(logs), layout="simple")], lake, [D1, D2], progress=False)
    assert again.requests["GET"] == 0 and lake.snapshot() == good


def test_a_commit_whose_answer_was_lost_is_still_ours(tmp_path, monkeypatch):
    """A retried create of the manifest version is refused (the first attempt had landed):
    the run used to take that as a lost race, delete its own staging and commit again."""
    logs = tmp_path / "logs"
    late_logs(logs)
    lake = Lake(str(tmp_path / "lake"))
    real = Lake.put_new

    def answer_lost(self, path, data):
        real(self, path, data)
        return False  # as when the answer to the first PUT was lost and the retry refused

    monkeypatch.setattr(Lake, "put_new", answer_lost)
    ingest([LogSource(str(logs), layout="simple")], lake, [D1, D2], progress=False)
    monkeypatch.undo()
    reference = Lake(str(tmp_path / "reference"))
    ingest([LogSource(str(logs), layout="simple")], reference, [D1, D2], progress=False)
    assert lake.snapshot() == reference.snapshot()
    versions = sorted(p.name for p in (tmp_path / "lake" / "_manifests").rglob("v*.json"))
    assert versions == ["v000001.json"] * 2  # committed once per unit, not again


def test_manifest_versions_are_kept_so_a_number_is_never_used_twice(tmp_path):
    logs = tmp_path / "logs"
    late_logs(logs)
    lake = Lake(str(tmp_path / "lake"))
    source = LogSource(str(logs), layout="simple")
    ingest([source], lake, [D2], progress=False)
    (logs / f"{D2}-09-00-00-{0xABC:016X}").write_bytes(line(key="late") + b"\n")
    ingest([source], lake, [D2], progress=False)
    unit = next((tmp_path / "lake" / "_manifests").glob("source=*/day=*"))
    assert sorted(p.name for p in unit.iterdir()) == ["v000001.json", "v000002.json"]


def test_rebuilds_share_a_memory_budget_and_a_huge_folder_still_runs_alone():
    import time as clock

    from pipelines.lake.compact import Budget

    budget, active, peak = Budget(100), [0], [0]

    def work(n):
        with budget.hold(n):
            active[0] += n
            peak[0] = max(peak[0], active[0])
            clock.sleep(0.05)
            active[0] -= n

    threads = [threading.Thread(target=work, args=(n,)) for n in (60, 60, 60, 500)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert not any(t.is_alive() for t in threads)  # the 500 ran, alone
    assert peak[0] in (60, 500)  # never two 60s together (120 > 100), never 500 with any
