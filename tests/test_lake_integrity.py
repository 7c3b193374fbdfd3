"""What the lake keeps for itself, damaged: staging files deleted or truncated, manifests,
`_lake.json` and `_compacted` records corrupt, and what killed runs leave behind. Each is
found by the next run and either healed (the same lake, byte for byte) or named in one
sentence that says what to do; locally and on S3."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines.ingestion.ingest import ingest
from pipelines.ingestion.results import RunReport
from pipelines.ingestion.sources import LogSource
from pipelines.ingestion.units import read_manifest
from pipelines.lake.manifest import Feeds, Unit
from pipelines.lake.parquet_files import parquet_bytes
from pipelines.lake.reader import LakeMetadataError
from pipelines.lake.store import Lake
from pipelines.sql import checks
from tests.helpers import D1, D2, S3LOGS, late_logs, upload

SHARED = f"dt={D1}/bucket=shared-bucket"  # fed by the units of both days


@dataclass
class Setup:
    """A source and a lake, both local or both on the S3 endpoint, after one run."""

    source: str
    lake: Lake
    logs: Path
    env: dict

    def ingest(self, days=(D1, D2)) -> RunReport:
        return ingest([LogSource(self.source, layout="simple")], self.lake, list(days),
                      progress=False)

    def cli(self, days: str = f"{D1}..{D2}") -> subprocess.CompletedProcess:
        return subprocess.run([S3LOGS, "ingest", "--source", self.source, "--lake",
                               self.lake.url, "--layout", "simple", "--days", days,
                               "--quiet"], capture_output=True, text=True, timeout=300,
                              env=self.env)

    def staging(self, day=D2, folder: str = SHARED) -> str:
        """The committed staging file of `day`'s unit that feeds `folder`."""
        unit = Unit(LogSource(self.source, layout="simple").id, day.isoformat())
        (path,) = [p for p in self.lake.find(self.lake.path("_staging", "access_logs",
                                                            folder, unit.path))]
        return path

    def manifest(self, day=D2) -> str:
        unit = Unit(LogSource(self.source, layout="simple").id, day.isoformat())
        return self.lake.find(self.lake.path("_manifests", unit.path))[-1]

    def delete_log(self, day=D2) -> str:
        """Delete one log object of `day` from the source; its URL."""
        source = LogSource(self.source, layout="simple")
        (victim, *_) = source.list_day(day).objects
        source.loc.fs.rm(victim.path)
        return victim.url


@pytest.fixture(params=["local", "s3"])
def setup(request, tmp_path) -> Setup:
    logs = tmp_path / "logs"
    late_logs(logs)
    if request.param == "local":
        setup = Setup(str(logs), Lake(str(tmp_path / "lake")), logs, {**os.environ})
    else:
        client = request.getfixturevalue("s3")  # starts the endpoint: env after it
        env = {**os.environ}
        upload(client, "target-logs", [(f"logs/{p.name}", p.read_bytes())
                                       for p in sorted(logs.iterdir())])
        setup = Setup("s3://target-logs/logs/", Lake("s3://lake/s3logs"), logs, env)
    setup.ingest()
    return setup


def check(report: RunReport, lake: Lake, name: str) -> checks.CheckResult:
    (result,) = [r for r in checks.ingestion(report, lake, [D1, D2]).results
                 if r.name == name]
    return result


def one_sentence(text: str) -> str:
    (line,) = [x for x in text.strip().splitlines() if x]
    assert "Traceback" not in text
    return line


# -- (2) a missing or damaged staging file -------------------------------------------------

@pytest.mark.parametrize("damage", ["deleted", "truncated"])
@pytest.mark.parametrize("days", [[D2], [D1]], ids=["its-day", "another-day"])
def test_a_damaged_staging_file_is_written_again_from_its_log_objects(setup, damage, days):
    """Deleting one staging file of a committed unit, then running again, dropped its rows
    from the partition for good (45,454 rows became 38,975), with exit 0 and every check
    passing. Now the run finds it (in the listing it makes anyway, against the size the
    manifest recorded), ingests its log objects again and the lake is what it was. Run
    over the unit's own day, or over the other day whose partition it feeds."""
    lake, before = setup.lake, setup.lake.snapshot()
    victim = setup.staging()
    if damage == "deleted":
        lake.fs.rm(victim)
    else:
        data = lake.read_bytes(victim)
        lake.fs.pipe_file(victim, data[:len(data) // 2])
    report = setup.ingest(days)
    assert lake.snapshot() == before  # byte for byte
    (repair,) = report.staging
    assert repair.repaired and repair.file == lake.display(victim)
    assert repair.why == "is missing" if damage == "deleted" else "bytes where" in repair.why
    result = check(report, lake, "staging_complete")
    assert result.passed and lake.display(victim) in result.summary
    rebuilt = {r.folder: r.reason for r in report.rebuilt}
    assert lake.display(victim) in rebuilt[f"access_logs/{SHARED}"]
    assert report.partitions_rewritten == len([r for r in rebuilt if "access_logs/" in r])
    assert setup.staging() != victim  # written anew, under the unit's next version
    again = setup.ingest()
    assert again.lake_requests["PUT"] == 0 and not again.staging and not again.rebuilt
    assert lake.snapshot() == before


def test_a_damaged_staging_file_is_found_when_read_even_without_a_recorded_size(tmp_path):
    """Manifests written before sizes were recorded are still read; their files are
    checked for presence in the listing, and read whole whenever their folder is
    rebuilt: a truncated one found then is ingested again like a missing one."""
    logs = tmp_path / "logs"
    late_logs(logs)
    lake = Lake(str(tmp_path / "lake"))
    source = LogSource(str(logs), layout="simple")
    ingest([source], lake, [D1, D2], progress=False)
    before = lake.snapshot()
    for path in (tmp_path / "lake" / "_manifests").rglob("v*.json"):  # as written before
        old = json.loads(path.read_text())
        del old["staging_files"]
        path.write_text(json.dumps(old))
    victim = next((tmp_path / "lake" / "_staging" / "access_logs" / SHARED).glob(
        f"source=*/day={D2}/*.parquet"))
    victim.write_bytes(victim.read_bytes()[:-100])
    (tmp_path / "lake" / "_compacted" / "access_logs" / f"{SHARED}.json").unlink()
    report = ingest([source], lake, [D2], progress=False)
    assert lake.snapshot() == before
    (repair,) = report.staging
    assert repair.repaired and "Parquet" in repair.why and repair.file == str(victim)


def test_a_damaged_staging_file_whose_log_objects_are_gone_fails_in_one_sentence(setup):
    """With its log objects deleted from the source too, nothing can write the file again:
    the run fails, naming the file and saying what to do, and leaves the partition readers
    see as it was (it still has the rows), on this run and the next."""
    lake, before = setup.lake, setup.lake.snapshot()
    victim = setup.staging()
    lake.fs.rm(victim)
    gone = setup.delete_log()
    for _ in range(2):
        out = setup.cli(str(D2))
        assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
        said = [x for x in out.stdout.splitlines() if "staging_complete" in x]
        assert len(said) == 1 and "FAILED" in said[0], out.stdout
        assert f"staging file {lake.display(victim)} is missing" in said[0]
        assert gone in said[0] and "restore the file from a backup of the lake" in said[0]
        assert lake.snapshot() == before


def test_a_staging_file_of_a_unit_the_run_has_no_source_for_says_what_to_run(tmp_path):
    """A folder the run rebuilds may be fed by a source the run was not given: its
    damaged file is named with the command that ingests it again."""
    logs = tmp_path / "logs"
    late_logs(logs)
    other = tmp_path / "other"
    late_logs(other)
    for p in other.iterdir():
        p.write_bytes(p.read_bytes().replace(b"R2", b"Q2"))  # other request ids
    lake = Lake(str(tmp_path / "lake"))
    ingest([LogSource(str(logs), layout="simple"), LogSource(str(other), layout="simple")],
           lake, [D1, D2], progress=False)
    before = lake.snapshot()
    other_unit = Unit(LogSource(str(other)).id, str(D2))
    (victim,) = lake.find(lake.path("_staging", "access_logs", SHARED, other_unit.path))
    lake.fs.rm(victim)
    report = ingest([LogSource(str(logs), layout="simple")], lake, [D2], progress=False)
    assert lake.snapshot() == before
    result = check(report, lake, "staging_complete")
    assert not result.passed and result.severity == checks.ERROR
    assert result.summary == (f"staging file {victim} is missing: ingest its log objects "
                              f"again with `s3logs ingest --source {LogSource(str(other)).url}"
                              f" --days {D2}`")


# -- (4) corrupt metadata ------------------------------------------------------------------

def _truncate(lake: Lake, path: str) -> None:
    data = lake.read_bytes(path)
    lake.fs.pipe_file(path, data[:len(data) // 2])


@pytest.mark.parametrize("corruption", ["truncated", "wrong-shape", "list"])
def test_a_corrupt_manifest_is_one_sentence_naming_it(setup, corruption):
    """A truncated manifest failed every run with a JSON message naming no file; one of
    the wrong shape gave a traceback."""
    lake, before = setup.lake, setup.lake.snapshot()
    manifest = setup.manifest()
    if corruption == "truncated":
        _truncate(lake, manifest)
    else:
        value = json.loads(lake.read_bytes(manifest))
        value["objects"] = [1, 2] if corruption == "wrong-shape" else value["objects"]
        lake.fs.pipe_file(manifest, json.dumps(value if corruption == "wrong-shape"
                                               else [value]).encode())
    out = setup.cli()
    assert out.returncode == 2, out.stdout + out.stderr
    said = one_sentence(out.stderr)
    assert said.startswith(f"s3logs: {lake.display(manifest)} ")
    assert said.endswith("restore it from a backup of the lake, or delete it and ingest "
                         "that day again (the version before it is used, and what that one "
                         "lacks is ingested again)")
    lake.fs.rm(manifest)  # as the sentence says
    assert setup.cli().returncode == 0
    assert lake.snapshot() == before


def test_a_rebuild_reads_what_a_manifest_feeds_as_the_manifest_says_it(setup):
    """Rebuilds hold one manifest per unit for a pass: `Feeds` is its staging files and
    their facts without the entry per log object, read and checked as the manifest is."""
    lake, path = setup.lake, setup.manifest()
    manifest, feeds = read_manifest(lake, path), read_manifest(lake, path, Feeds.from_json)
    assert feeds.staging and feeds.facts
    assert (feeds.source, feeds.version, feeds.staging, feeds.facts) == (
        manifest.source, manifest.version, manifest.staging, manifest.facts)
    value = json.loads(lake.read_bytes(path))
    lake.fs.pipe_file(path, json.dumps({**value, "objects": [1, 2]}).encode())
    with pytest.raises(LakeMetadataError, match="is not a manifest this version can read"):
        read_manifest(lake, path, Feeds.from_json)


@pytest.mark.parametrize("content", [b'{"format": 2', b"[]", b'{"format": "two"}'])
def test_a_corrupt_lake_marker_is_one_sentence_naming_it(setup, content):
    lake, before = setup.lake, setup.lake.snapshot()
    marker = lake.path("_lake.json")
    lake.fs.pipe_file(marker, content)
    out = setup.cli()
    assert out.returncode == 2
    said = one_sentence(out.stderr)
    assert said.startswith(f"s3logs: {lake.display(marker)} ")
    assert said.endswith("delete it and run again (the next run checks every unit has a "
                         "manifest version and writes it anew)")
    lake.fs.rm(marker)  # as the sentence says
    assert setup.cli().returncode == 0
    assert lake.snapshot() == before and json.loads(lake.read_bytes(marker)) == {"format": 2}


@pytest.mark.parametrize("content", [b'{"inputs": [', b"[1]", b'{"inputs": 3}'])
def test_a_corrupt_compaction_record_heals_by_rebuilding_its_folder(setup, content):
    """A record of what a folder was built from is only a cache: a corrupt one (which
    failed every run with a JSON message naming no file) means the folder is rebuilt, and
    the summary says which and why."""
    lake, before = setup.lake, setup.lake.snapshot()
    record = lake.path("_compacted", "access_logs", f"{SHARED}.json")
    lake.fs.pipe_file(record, content)
    out = setup.cli()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 partitions rewritten, 1 files" in out.stdout
    reason = [x for x in out.stdout.splitlines() if f"rebuilt access_logs/{SHARED}" in x]
    assert len(reason) == 1 and "its record could not be read" in reason[0]
    assert lake.snapshot() == before
    assert json.loads(lake.read_bytes(record))["inputs"]


def test_a_truncated_staging_file_is_named_by_the_run_that_heals_it(setup):
    """A truncated staging file failed every run with a Parquet message naming no file."""
    lake, before = setup.lake, setup.lake.snapshot()
    victim = setup.staging(day=D1)
    _truncate(lake, victim)
    out = setup.cli()
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"staging file {lake.display(victim)} has " in out.stdout
    assert lake.snapshot() == before


# -- (7) true counts, and what killed runs leave ---------------------------------------

def test_a_self_healing_rebuild_is_counted_in_the_summary(setup):
    """A stale partition (a writer killed between its file and its record) was rebuilt by
    the next run, whose summary said '0 partitions rewritten'."""
    lake, before = setup.lake, setup.lake.snapshot()
    part = next(p for p in lake.files() if SHARED in p)
    rows = pq.read_table(lake.fs.open(part)).slice(0, 10)
    lake.fs.pipe_file(part, parquet_bytes(rows, "request_time"))
    out = setup.cli()
    assert out.returncode == 0, out.stderr
    assert "1 partitions rewritten, 1 files" in out.stdout
    assert f"rebuilt access_logs/{SHARED}: its files were not the ones" in out.stdout
    assert lake.snapshot() == before


def test_a_first_run_names_no_folder_as_healed(tmp_path):
    """New folders have no rebuild record yet: that is routine, not a repair to report."""
    logs = tmp_path / "logs"
    late_logs(logs)
    out = subprocess.run([S3LOGS, "ingest", "--source", str(logs), "--lake",
                          str(tmp_path / "lake"), "--layout", "simple", "--days",
                          f"{D1}..{D2}"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^[1-9][0-9]* partitions rewritten", out.stdout, re.M)
    assert "rebuilt " not in out.stdout


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _owner(pid: int, host: str | None = None) -> str:
    """How a leftover names its owner: PID@HOST (the host name's odd characters as -)."""
    return f"{pid}@{host or re.sub(r'[^A-Za-z0-9-]', '-', socket.gethostname())[:63]}"


def test_leftovers_of_a_dead_run_on_this_host_are_removed_by_the_next_run(tmp_path):
    """A run killed before it took its spill lock left an empty folder, and its hidden
    .tmp files stayed an hour: both are named after their owner now, and a next run
    removes those of a dead process of this host at once. What a live process, or another
    host, left is kept until it is old. Only the folders the run writes and checks are
    looked at: a folder of another day keeps its leftover (hidden from every reader)."""
    logs = tmp_path / "logs"
    late_logs(logs)
    lake = tmp_path / "lake"
    root = tmp_path / "tmp"
    spill = root / "s3logs-spill"
    spill.mkdir(parents=True)
    dead = _dead_pid()
    empty = spill / f"{_owner(dead)}-abc123"  # killed before taking its lock
    empty.mkdir()
    unlocked = spill / f"{_owner(dead)}-def456"
    unlocked.mkdir()
    (unlocked / ".lock").touch()
    (unlocked / "1.arrow").write_bytes(b"rows")
    live = spill / f"{_owner(os.getppid())}-ghi789"  # being created right now
    live.mkdir()
    folder = lake / "access_logs" / SHARED  # fed by D2's unit too
    folder.mkdir(parents=True)
    elsewhere = lake / "access_logs" / "dt=2020-01-01" / "bucket=x"
    elsewhere.mkdir(parents=True)
    untouched = elsewhere / f".part-00000.parquet.{_owner(dead)}.{uuid.uuid4().hex}.tmp"
    untouched.write_bytes(b"half a file")
    tmp_dead = folder / f".part-00000.parquet.{_owner(dead)}.{uuid.uuid4().hex}.tmp"
    tmp_other_host = folder / f".part-00000.parquet.{_owner(dead, 'elsewhere')}." \
                              f"{uuid.uuid4().hex}.tmp"
    tmp_old_other = folder / f".part-00000.parquet.{_owner(dead, 'elsewhere')}." \
                             f"{uuid.uuid4().hex}.tmp"
    for tmp in (tmp_dead, tmp_other_host, tmp_old_other):
        tmp.write_bytes(b"half a file")
    os.utime(tmp_old_other, (time.time() - 7200, time.time() - 7200))
    out = subprocess.run([S3LOGS, "ingest", "--source", str(logs), "--lake", str(lake),
                          "--days", str(D2), "--quiet"], capture_output=True, text=True,
                         timeout=300, env={**os.environ, "TMPDIR": str(root)})
    assert out.returncode == 0, out.stderr
    assert not empty.exists() and not unlocked.exists() and live.exists()
    assert not tmp_dead.exists() and not tmp_old_other.exists() and tmp_other_host.exists()
    assert untouched.exists()  # the run's cost is its day's folders, not the lake's


def test_staging_complete_is_a_dagster_asset_check():
    from assets.ingest import CHECKS

    assert "staging_complete" in {c.name for c in CHECKS}
    assert "staging_complete" in {c.name for c in checks.INGEST_CHECKS}
