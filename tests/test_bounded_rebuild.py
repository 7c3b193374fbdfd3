"""Partitions rebuilt in bounded memory, and units ingested at once: the lake is byte for
byte what rebuilding each folder whole, one unit after the other, writes."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.ingestion import ingest as ingestion
from pipelines.ingestion.ingest import ingest
from pipelines.ingestion.sources import LogSource
from pipelines.lake import compact as compaction
from pipelines.lake.parquet_files import canonical, decode
from pipelines.lake.store import LAKE_SCHEMA, Lake
from pipelines.synthetic.synth import SynthConfig, generate_objects
from tests.helpers import upload

CFG = SynthConfig(days=2, buckets=("big-bucket", "small-bucket"), records_per_day=3000,
                  records_per_object=150, late_fraction=0.3, duplicate_fraction=0.05,
                  gzip_fraction=0.1, seed=5)
DAYS = [CFG.start + timedelta(days=i) for i in range(CFG.days + 3)]
WHOLE = 1 << 30  # every folder sorted in memory, as before


def estate(cfg: SynthConfig = CFG) -> list[tuple[str, bytes]]:
    """Generated objects, a fifth of them delivered again a day later (so a record's
    copies are in the staging files of two units), and per day an object of junk lines
    (a quarantine of thousands of rows)."""
    objects = list(generate_objects(cfg))
    rng = random.Random(1)
    again = [(f"logs/{date.fromisoformat(key[5:15]) + timedelta(days=1)}{key[15:]}AGAIN",
              body) for key, body in objects if rng.random() < 0.2]
    junk = [(f"logs/{cfg.start + timedelta(days=d)}-23-59-59-JUNK{d:012d}",
             b"\n".join(b"<html>%d not a log line</html>" % i for i in range(3000)) + b"\n")
            for d in range(cfg.days)]
    return objects + again + junk


def write(folder: Path, objects: list[tuple[str, bytes]]) -> str:
    for key, body in objects:
        (folder / key).parent.mkdir(parents=True, exist_ok=True)
        (folder / key).write_bytes(body)
    return str(folder / "logs") + "/"


def run(source: str, lake: Lake, **kwargs):
    return ingest([LogSource(source, layout="simple")], lake, DAYS, progress=False, **kwargs)


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> str:
    return write(tmp_path_factory.mktemp("bounded"), estate())


def sorted_outside(monkeypatch) -> list[str]:
    """The folders the run rebuilds on the bounded path (filled as it goes)."""
    seen: list[str] = []
    merged = compaction._merged

    def spy(lake, target, *args):
        seen.append(target.path)
        return merged(lake, target, *args)

    monkeypatch.setattr(compaction, "_merged", spy)
    return seen


@pytest.mark.parametrize("memory", [64 << 10, 1 << 20])
@pytest.mark.parametrize("max_rows", [None, 700])
def test_a_folder_sorted_outside_memory_is_the_same_bytes(logs, tmp_path, memory, max_rows,
                                                          monkeypatch):
    """Each folder of a few megabytes, rebuilt in 64 KiB (hundreds of sorted runs, merged
    in several rounds) or 1 MiB, with duplicates in one unit's staging and across two
    units', a quarantine of thousands of rows, and (700 rows a file) a folder cut into many
    part files, is byte for byte what sorting it whole writes."""
    kw = {"max_rows_per_file": max_rows} if max_rows else {}
    reference = Lake(str(tmp_path / "reference"), **kw)
    want = run(logs, reference, memory=WHOLE)
    merged = sorted_outside(monkeypatch)
    lake = Lake(str(tmp_path / "lake"), **kw)
    got = run(logs, lake, memory=memory)
    assert lake.snapshot() == reference.snapshot()
    assert got.duplicates_dropped == want.duplicates_dropped > 1000
    assert [r.folder for r in got.rebuilt] == [r.folder for r in want.rebuilt]
    assert {r.folder for r in got.rebuilt if "big-bucket" in r.folder} <= set(merged)
    assert any(f.startswith("quarantine/") for f in merged) == (memory < 1 << 20)
    assert lake.files("quarantine") and (max_rows is None or len(lake.files()) > 12)
    assert not list((tmp_path / "lake").rglob("*.tmp"))
    again = run(logs, lake, memory=memory)  # nothing new: nothing written
    assert again.lake_requests["PUT"] == 0 and lake.snapshot() == reference.snapshot()


def test_a_folder_sorted_outside_memory_on_s3_is_the_same_bytes(logs, s3, tmp_path,
                                                                monkeypatch):
    """On S3 the staging files are read from copies in the run's temporary folder and the
    part files written there, then PUT: the same lake as on disk."""
    reference = Lake(str(tmp_path / "reference"))
    run(logs, reference, memory=WHOLE)
    merged = sorted_outside(monkeypatch)
    lake = Lake("s3://lake/bounded")
    report = run(logs, lake, memory=256 << 10)
    assert lake.snapshot() == reference.snapshot() and len(merged) > 4
    puts = sum(len(lake.find(lake.path(f))) for f in ("_staging", "_manifests", "_compacted"))
    assert report.lake_requests["PUT"] == len(lake.snapshot()) + puts + 1 + 2  # one each


MEASURE = """
import json, sys, pyarrow as pa
from pipelines.lake.compact import compact
from pipelines.lake.store import Lake
from pipelines.lake.manifest import Target
lake, folder, memory, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
done = compact(Lake(lake, max_rows_per_file=rows), [Target("access_logs", folder)],
               threads=1, memory=memory)
(c,) = done.values()
print(json.dumps({"peak": pa.default_memory_pool().max_memory(), "rows": c.rows,
                  "written": c.written}))
"""


def test_a_folder_far_over_the_bound_rebuilds_within_it(tmp_path):
    """A folder of ~240,000 records (~150 MB of rows in memory) rebuilt with 16 MiB:
    Arrow's peak stays near the bound, a small part of what sorting it whole takes (its
    rows, their sorted copy), and the files are the same bytes. Part files of 20,000
    rows keep the row group being written (a floor of any rebuild) small."""
    cfg = replace(CFG, days=1, buckets=("big-bucket",), records_per_day=200_000,
                  records_per_object=2000, late_fraction=0, duplicate_fraction=0)
    source = write(tmp_path / "logs", list(generate_objects(cfg)))
    lake = Lake(str(tmp_path / "staged"))
    ingest([LogSource(source, layout="simple")], lake, [cfg.start], progress=False)
    (folder,) = [p for p in (tmp_path / "staged" / "access_logs").glob("dt=*/bucket=*")]
    folder = str(folder.relative_to(tmp_path / "staged" / "access_logs"))
    rows = decode([Path(p).read_bytes() for p in lake.find(lake.path("_staging"))
                   if "/access_logs/" in p], LAKE_SCHEMA)
    assert rows.num_rows > 200_000 and rows.nbytes > 100 << 20

    def rebuild(name: str, memory: int) -> tuple[dict, dict[str, bytes]]:
        copy = tmp_path / name
        shutil.copytree(tmp_path / "staged", copy)
        shutil.rmtree(copy / "_compacted")  # rebuilt anew
        out = subprocess.run([sys.executable, "-c", MEASURE, str(copy), folder, str(memory),
                              "20000"], capture_output=True, text=True, check=True)
        return json.loads(out.stdout), Lake(str(copy)).snapshot()

    bounded, got = rebuild("bounded", 16 << 20)
    whole, want = rebuild("whole", WHOLE)
    assert got == want and bounded["rows"] == whole["rows"] == rows.num_rows
    assert whole["peak"] > 2 * rows.nbytes  # the rows and their sorted copy
    # the bound, plus what reading and writing Parquet hold whatever the bound (a page
    # and a dictionary of each column read, a row group and its pages written)
    assert bounded["peak"] < 64 << 20 < rows.nbytes / 2


def test_write_parts_cuts_and_writes_as_write_files(tmp_path):
    """Rows given in pieces of any size give the files of the whole table: the same part
    files (a row cap that row groups do not divide) and bytes."""
    rows = decode([Path(p).read_bytes() for p in Lake(str(_staged(tmp_path))).files(
        "_staging") if "/access_logs/" in p], LAKE_SCHEMA)
    table = canonical(rows)
    rng = random.Random(3)
    for cap in (1_000, 2_345, 1 << 30):
        whole = Lake(str(tmp_path / f"w{cap}"), max_rows_per_file=cap)
        parts = Lake(str(tmp_path / f"p{cap}"), max_rows_per_file=cap)
        whole.write_files(whole.path("f"), table, "request_time")
        pieces, at = [], 0
        while at < table.num_rows:
            n = rng.choice([1, 7, 500, 3_000])
            pieces.append(pa.concat_tables([table.slice(at, n // 2), table.slice(
                at + n // 2, n - n // 2)]))  # two chunks, as a merge step may give
            at += n
        written = parts.write_parts(parts.path("f"), iter(pieces), "request_time")
        assert len(written) == len(whole.files("f")) == -(-table.num_rows // cap)
        assert {p[len(parts.path("f")):]: parts.read_bytes(p) for p in written} == \
            {p[len(whole.path("f")):]: whole.read_bytes(p) for p in whole.files("f")}


def _staged(tmp_path: Path) -> Path:
    source = write(tmp_path / "logs", estate(replace(CFG, days=1)))
    ingest([LogSource(source, layout="simple")], Lake(str(tmp_path / "lake")), DAYS[:2],
           progress=False)
    return tmp_path / "lake"


def test_a_damaged_staging_file_is_found_by_the_bounded_rebuild(logs, tmp_path,
                                                               monkeypatch):
    """A staging file of the right size that is not Parquet any more is found while its
    folder is read in batches, before anything is written; its unit is ingested again,
    and the lake is what it was."""
    merged = sorted_outside(monkeypatch)
    lake = Lake(str(tmp_path / "lake"))
    run(logs, lake, memory=1 << 20)
    before = lake.snapshot()
    staging = tmp_path / "lake" / "_staging" / "access_logs"
    victim = max(staging.rglob("*.parquet"), key=lambda p: p.stat().st_size)
    data = victim.read_bytes()
    half = len(data) // 2
    victim.write_bytes(data[:4] + bytes(half) + data[4 + half:])  # its first pages zeroed
    folder = victim.relative_to(staging).parents[2]
    (tmp_path / "lake" / "_compacted" / "access_logs" / f"{folder}.json").unlink()
    merged.clear()
    report = run(logs, lake, memory=1 << 20)
    assert lake.snapshot() == before and f"access_logs/{folder}" in merged
    (repair,) = report.staging
    assert repair.repaired and "Parquet" in repair.why and repair.file == str(victim)


@pytest.fixture
def two_sources(tmp_path) -> list[str]:
    out = []
    for i in range(2):
        cfg = replace(CFG, buckets=(f"src{i}-a", "shared-bucket"), records_per_day=1500,
                      seed=40 + i)
        out.append(write(tmp_path / f"source{i}", estate(cfg)))
    return out


def totals(report) -> dict:
    """A report's numbers; of the lake's requests, the writes (a rebuild's LISTs vary from
    one run to the next: its threads may both list a unit's manifests)."""
    return {"requests": report.requests,
            "lake": {k: report.lake_requests[k] for k in ("PUT", "DELETE")},
            "duplicates": report.duplicates_dropped,
            "rebuilt": [(r.folder, r.reason, r.files) for r in report.rebuilt],
            "days": [(d.source, d.day, d.objects_listed, d.objects_ingested, d.lines_read,
                      d.rows_parsed, d.rows_quarantined, d.partitions, d.error)
                     for d in report.days]}


def test_units_ingested_at_once_make_the_lake_one_after_another_makes(two_sources,
                                                                      tmp_path):
    """Two sources of five days (both feeding one bucket's partitions), on four threads:
    the same lake, byte for byte, and the same report, request for request (each unit
    counts its own; a source's key layout is detected once, by its first unit). Units
    at once may both write the lake's format marker, so the lakes first take a day
    one unit after the other."""
    lakes = {w: Lake(str(tmp_path / f"workers{w}")) for w in (1, 4)}
    reports = {}
    for w, lake in lakes.items():
        sources = [LogSource(url) for url in two_sources]  # layout detected: a LIST each
        ingest(sources, lake, DAYS[:1], progress=False)
        reports[w] = ingest(sources, lake, DAYS, progress=False, workers=w)
    assert lakes[4].snapshot() == lakes[1].snapshot()
    assert totals(reports[4]) == totals(reports[1])
    again = ingest(sources, lakes[4], DAYS, progress=False, workers=4)
    assert again.requests["GET"] == 0 and again.lake_requests["PUT"] == 0


def test_units_ingested_at_once_from_s3_count_their_own_requests(s3, tmp_path):
    """From S3, each unit has a client of its own, counting what it asks: the run's
    requests are those of one unit after another."""
    upload(s3, "target-logs", estate())
    reports, snapshots = {}, {}
    for w in (1, 3):
        lake = Lake(f"s3://lake/workers{w}")
        ingest([LogSource("s3://target-logs/logs/")], lake, DAYS[:1], progress=False)
        reports[w] = ingest([LogSource("s3://target-logs/logs/")], lake, DAYS,
                            progress=False, workers=w)
        snapshots[w] = lake.snapshot()
    assert snapshots[3] == snapshots[1]
    assert totals(reports[3]) == totals(reports[1]) and reports[3].requests["GET"] > 0


def test_a_failing_unit_among_units_at_once_is_reported_and_the_others_go_on(
        two_sources, tmp_path, monkeypatch):
    """A unit whose commit fails on storage says so in its report and the others commit,
    as one after the other; the next run brings the lake to what one clean run writes."""
    reference = Lake(str(tmp_path / "reference"))
    ingest([LogSource(u, layout="simple") for u in two_sources], reference, DAYS,
           progress=False)
    commit = ingestion._commit

    def failing(lake, work, run, spill):
        if work.unit.day == str(DAYS[1]) and work.source.url == two_sources[1]:
            raise OSError("the disk is on fire")
        return commit(lake, work, run, spill)

    monkeypatch.setattr(ingestion, "_commit", failing)
    lake = Lake(str(tmp_path / "lake"))
    sources = [LogSource(u, layout="simple") for u in two_sources]
    report = ingest(sources, lake, DAYS, progress=False, workers=3)
    assert [(d.source, d.day) for d in report.days if d.error] == [(two_sources[1],
                                                                    str(DAYS[1]))]
    assert sum(d.error is None and d.objects_ingested > 0 for d in report.days) >= 4
    monkeypatch.setattr(ingestion, "_commit", commit)
    ingest(sources, lake, DAYS, progress=False, workers=3)
    assert lake.snapshot() == reference.snapshot()


def test_an_error_in_a_unit_among_units_at_once_stops_the_run(two_sources, tmp_path,
                                                              monkeypatch):
    """An error a unit does not report (a bug, an interrupt) ends the run with it, as
    one after the other would, and the units not started yet are not started."""
    started = []
    unit = ingestion._ingest_unit

    def broken(source, lake, day, *args):
        started.append(day)
        if day == DAYS[0]:
            raise RuntimeError("a bug")
        return unit(source, lake, day, *args)

    monkeypatch.setattr(ingestion, "_ingest_unit", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        ingest([LogSource(u, layout="simple") for u in two_sources],
               Lake(str(tmp_path / "lake")), DAYS, progress=False, workers=2)
    assert len(started) < 2 * len(DAYS)


def test_folders_are_grouped_by_size_never_split_and_the_same_each_time():
    """Longest first into the lightest group: seven folders of sizes 8..2 into three
    groups of 13, 11 and 11 bytes; fewer folders than groups, one each; none, one empty
    group (the step that checks the run must still run)."""
    from pipelines.lake.manifest import Target
    sizes = {Target("access_logs", f"dt=2026-11-16/bucket=b{n}"): n for n in range(2, 9)}
    groups = compaction.balanced(sizes, 3)
    assert sorted(t for g in groups for t in g) == sorted(sizes)
    assert sorted(sum(sizes[t] for t in g) for g in groups) == [11, 11, 13]
    assert compaction.balanced(dict(reversed(sizes.items())), 3) == groups
    few = dict(list(sizes.items())[:2])
    assert sorted(len(g) for g in compaction.balanced(few, 8)) == [1, 1]
    assert compaction.balanced({}, 8) == [[]]


def test_a_run_rebuilt_in_groups_of_folders_is_the_run_rebuilt_at_once(logs, tmp_path):
    """What the Dagster steps do (the units; the folders in groups sized from the
    staging listing, each group on its own; then the finish) makes the lake and the
    report that `ingest` makes in one go."""
    from pipelines.ingestion.units import migrate
    reference = Lake(str(tmp_path / "reference"))
    want = run(logs, reference)
    lake = Lake(str(tmp_path / "lake"))
    source = LogSource(logs, layout="simple")
    outcomes = [ingestion.ingest_unit(source, lake, day, progress=False) for day in DAYS]
    migrate(lake)
    groups = ingestion.folder_groups(lake, outcomes, 3)
    assert len(groups) == 3 and all(g.targets for g in groups)
    big = [g for g in groups if any("big-bucket" in t.folder for t in g.targets)]
    assert len(big) >= 2  # the largest folders went to different groups
    folders = [ingestion.rebuild_folders(Lake(lake.url), g) for g in groups]
    got = ingestion.finish_rebuild(lake, outcomes, folders, 0.0, [source])
    assert lake.snapshot() == reference.snapshot()
    assert totals(got) == totals(want)


def test_the_process_allocates_from_malloc_in_few_arenas():
    """What `s3logs` and each Dagster step set first (pipelines.memory): Arrow on the C
    library's malloc, which gives back what the threads free, where mimalloc kept it."""
    code = ("import pyarrow as pa; from pipelines.memory import bound_allocator, give_back; "
            "bound_allocator(); a = pa.array(range(100_000)); n = a.nbytes; del a; "
            "give_back(); print(pa.default_memory_pool().backend_name, n > 0, "
            "pa.total_allocated_bytes())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parent.parent)
    assert out.stdout.split() == ["system", "True", "0"]
