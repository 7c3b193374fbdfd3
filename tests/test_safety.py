"""What used to go wrong quietly: analysts overwriting the lake, spreadsheet formulas in
exports, one source counted three times, a glob in a lake path, what killed runs left."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.ingestion.ingest import ingest
from pipelines.ingestion.sources import LogSource
from pipelines.lake import spill
from pipelines.lake.store import Lake
from pipelines.sql import warehouse
from tests.helpers import S3LOGS
from tests.loglines import line
from tests.s3server import INTERNAL, Fault

DAY = date(2026, 11, 16)
BUCKET = "amzn-s3-demo-bucket1"  # what tests.loglines.line logs


def small_lake(tmp_path: Path, name: str = "lake", key: str = "k") -> tuple[Path, Lake]:
    logs = tmp_path / f"logs-{name}"
    logs.mkdir(parents=True, exist_ok=True)
    body = b"\n".join(line(key=f"{key}{i}", request_id=f"{name}{i}",
                           time="[16/Nov/2026:05:00:00 +0000]") for i in range(5)) + b"\n"
    (logs / f"{DAY}-05-00-00-00000000000000A1").write_bytes(body)
    lake = Lake(str(tmp_path / name))
    ingest([LogSource(str(logs))], lake, [DAY], progress=False)
    return logs, lake


def run(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([S3LOGS, *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", **env})


def test_query_and_shell_cannot_write_the_lake_or_any_file(tmp_path):
    """`COPY (SELECT ... WHERE false) TO '<LAKE>/access_logs/.../part-00000.parquet'`
    emptied a partition, with exit 0."""
    _, lake = small_lake(tmp_path)
    warehouse.build(lake, str(tmp_path / "w.duckdb"))
    assert not os.access(tmp_path / "w.duckdb", os.W_OK) or os.getuid() == 0
    assert oct((tmp_path / "w.duckdb").stat().st_mode & 0o777) == "0o444"
    (part,) = lake.files()
    before = Path(part).read_bytes()
    env = {"S3LOGS_WAREHOUSE": str(tmp_path / "w.duckdb"), "S3LOGS_LAKE": lake.url}
    attempts = [f"COPY (SELECT * FROM lake_access_logs WHERE false) TO '{part}'",
                f"COPY (SELECT 1) TO '{tmp_path / 'elsewhere.csv'}'",
                f"EXPORT DATABASE '{tmp_path / 'dump'}'",
                f"ATTACH '{tmp_path / 'other.duckdb'}' AS o",
                "SELECT 1; COPY (SELECT 1) TO 'x.csv'",
                "SELECT * FROM read_csv('/etc/passwd')"]
    for sql in attempts:
        out = run("query", sql, env=env)
        assert out.returncode == 2, (sql, out.stdout)
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert Path(part).read_bytes() == before
    assert not (tmp_path / "elsewhere.csv").exists() and not (tmp_path / "dump").exists()
    shell = subprocess.run([S3LOGS, "shell"], input=f"COPY (SELECT 1) TO '{part}';\n"
                           "SELECT count(*) AS n FROM access_logs;\n", capture_output=True,
                           text=True, timeout=120, env={"PATH": "/usr/bin:/bin", **env})
    assert "the warehouse is for reading" in shell.stdout and "5" in shell.stdout
    assert Path(part).read_bytes() == before
    kept = tmp_path / "kept.parquet"  # exporting is the explicit --out
    out = run("query", "SELECT * FROM access_logs", "--format", "parquet", "--out", str(kept),
              env=env)
    assert out.returncode == 0 and pq.read_table(kept).num_rows == 5


def test_query_cannot_write_a_lake_on_s3(s3, tmp_path):
    """On an S3 lake, COPY ... TO 's3://...' wrote through the registered filesystem with
    the user's credentials."""
    logs, _ = small_lake(tmp_path)
    lake = Lake("s3://lake/s3logs")
    ingest([LogSource(str(logs))], lake, [DAY], progress=False)
    warehouse.build(lake, str(tmp_path / "w.duckdb"))
    (part,) = lake.files()
    env = {"S3LOGS_WAREHOUSE": str(tmp_path / "w.duckdb"), "S3LOGS_LAKE": lake.url,
           "AWS_ENDPOINT_URL_S3": os.environ["AWS_ENDPOINT_URL_S3"],
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    out = run("query", f"COPY (SELECT 1 AS x) TO 's3://{part}'", env=env)
    assert out.returncode == 2 and "the warehouse is for reading" in out.stderr
    count = run("query", "SELECT count(*) AS n FROM access_logs", "--format", "csv", env=env)
    assert count.returncode == 0 and count.stdout.splitlines() == ['"n"', "5"], count.stderr
    assert s3.head_object(Bucket="lake", Key=part.split("/", 1)[1])["ContentLength"] > 100


def test_csv_exports_cannot_carry_spreadsheet_formulas(tmp_path):
    _, lake = small_lake(tmp_path, key="=cmd|'/C%20calc'!A0-")
    warehouse.build(lake, str(tmp_path / "w.duckdb"))
    env = {"S3LOGS_WAREHOUSE": str(tmp_path / "w.duckdb"), "S3LOGS_LAKE": lake.url}
    out = run("query", "SELECT key, http_status, '@SUM(1)' AS a, '-2' AS b, 'plain' AS c "
              "FROM access_logs ORDER BY key LIMIT 1", "--format", "csv", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == '''"'=cmd|'/C%20calc'!A0-0",200,"'@SUM(1)","'-2","plain"'''


def test_one_source_spelled_three_ways_is_one_source(tmp_path):
    """`src/logs/`, its absolute path and `src/../src/logs` counted as three sources and
    tripled the quarantine."""
    logs = tmp_path / "src" / "logs"
    logs.mkdir(parents=True)
    (logs / f"{DAY}-05-00-00-00000000000000A1").write_bytes(
        line(time="[16/Nov/2026:05:00:00 +0000]") + b"\nnot a log line\n")
    lake = Lake(str(tmp_path / "lake"))
    os.chdir(tmp_path)
    spellings = ["src/logs/", str(logs), "src/../src/logs"]
    assert len({LogSource(s).id for s in spellings}) == 1
    for s in spellings:
        ingest([LogSource(s)], lake, [DAY], progress=False)
    assert [len(pq.read_table(f)) for f in lake.files("quarantine")] == [1]
    assert len(lake.find(lake.path("_manifests"))) == 1


def test_a_lake_path_with_glob_characters_reads_only_itself(tmp_path):
    """A lake at `lake[1]` silently read its neighbour `lake1`."""
    _, neighbour = small_lake(tmp_path, "lake1", key="neighbour")
    _, lake = small_lake(tmp_path, "lake[1]", key="mine")
    counts = warehouse.build(lake, str(tmp_path / "w.duckdb"))
    assert counts["lake_access_logs"] == 5
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    assert {k for (k,) in con.execute("SELECT key FROM access_logs").fetchall()} == {
        f"mine{i}" for i in range(5)}
    assert neighbour.files()


def test_what_a_killed_run_leaves_is_cleaned_by_the_next(tmp_path):
    """kill -9 left its spill folder (140 MB a run) and sometimes a hidden .tmp file."""
    logs = tmp_path / "logs"
    logs.mkdir()
    body = b"\n".join(line(key=f"k{i}", request_id=f"R{i}", time=f"[16/Nov/2026:05:{i % 60:02d}"
                           ":00 +0000]") for i in range(200_000)) + b"\n"
    for i in range(4):
        (logs / f"{DAY}-0{i}-00-00-{i:016X}").write_bytes(body.replace(b"k", b"k%d-" % i))
    root = tmp_path / "spill-root"
    root.mkdir()  # (tempfile ignores a TMPDIR that does not exist)
    env = {**os.environ, "TMPDIR": str(root)}
    before = set()
    proc = subprocess.Popen([S3LOGS, "ingest", "--source", str(logs), "--lake",
                             str(tmp_path / "lake"), "--days", str(DAY), "--quiet"], env=env)
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until it has spilled, then kill it
        found = list((root / "s3logs-spill").glob("*/*.arrow")) if root.exists() else []
        if found:
            before = {p.parent for p in found}
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert before and all(p.exists() for p in before)
    written = BUCKET.replace("k", "k0-")  # the first object's bucket: its k became k0-
    stale = tmp_path / "lake" / "access_logs" / "dt=2026-11-16" / f"bucket={written}"
    stale.mkdir(parents=True)
    tmp = stale / ".part-00000.parquet.0123abcd.tmp"
    tmp.write_bytes(b"half a file")
    os.utime(tmp, (time.time() - 7200, time.time() - 7200))
    out = subprocess.run([S3LOGS, "ingest", "--source", str(logs), "--lake",
                          str(tmp_path / "lake"), "--days", str(DAY), "--quiet"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert not any(p.exists() for p in before) and not tmp.exists()
    assert spill.clean_stale(root / "s3logs-spill") == []


def test_a_lake_that_refuses_manifests_is_one_sentence(s3, tmp_path, fault_proxy):
    """A persistent 500 on a manifest write ended in a raw traceback."""
    logs, _ = small_lake(tmp_path)
    fault_proxy.faults.append(Fault("PUT", r"^/lake/s3logs/_manifests/", INTERNAL))
    out = subprocess.run([S3LOGS, "ingest", "--source", str(logs), "--lake",
                          "s3://lake/s3logs", "--endpoint", fault_proxy.url, "--days",
                          str(DAY), "--quiet"], capture_output=True, text=True, timeout=300,
                         env={**os.environ})
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    said = [x for x in out.stdout.splitlines() if "could not be ingested" in x]
    assert len(said) == 1 and "could not write s3://lake/s3logs/_manifests/" in said[0]
    assert said[0].endswith("run again; what earlier runs committed is intact")


@pytest.fixture(autouse=True)
def _cwd(tmp_path):
    here = os.getcwd()
    yield
    os.chdir(here)

