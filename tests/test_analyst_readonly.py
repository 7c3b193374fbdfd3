"""The analyst entry points (`s3logs query`, `s3logs shell`) cannot write anything: the
red team's `EXPLAIN ANALYZE COPY ... TO '<lake>/access_logs/.../part-00000.parquet'`
emptied a partition, a day of findings and pre-claimed an alert. Every statement that
could write (and their nestings) runs against a local and an S3 lake; every file of the
working folder (lake, warehouse, home, current folder) and every object on S3 must hash
the same after as before."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import date
from pathlib import Path

import boto3
import duckdb
import pytest

from pipelines.cli import main
from pipelines.ingestion.ingest import ingest
from pipelines.ingestion.sources import LogSource
from pipelines.lake import storage
from pipelines.lake.store import Lake
from pipelines.sql import warehouse
from pipelines.sql.models import run_models
from tests.helpers import S3LOGS
from tests.loglines import line

DAY = date(2026, 11, 16)


def probes(lake: str, part: str, claim: str, home: Path) -> list[str]:
    """Statements that write, or would in a looser connection: each a way the red team
    (or a newer DuckDB) could reach a file."""
    return [
        f"COPY (SELECT 1 AS x) TO '{part}' (FORMAT parquet)",
        f"EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO '{part}' (FORMAT parquet)",
        f"EXPLAIN COPY (SELECT 1 AS x) TO '{part}' (FORMAT parquet)",
        f"EXPLAIN ANALYZE EXPLAIN ANALYZE COPY (SELECT 1 AS x) TO '{part}'",
        f"SELECT 1; COPY (SELECT 1 AS x) TO '{part}'",
        f"COPY (SELECT 'x' AS id) TO '{claim}' (FORMAT json)",
        f"COPY (SELECT * FROM usage_daily WHERE false) TO '{lake}/marts/usage_daily/x.parquet'",
        f"COPY usage_daily FROM '{part}'",
        f"EXPORT DATABASE '{lake}/dump'",
        f"EXPLAIN ANALYZE EXPORT DATABASE '{lake}/dump2'",
        f"ATTACH '{lake}/other.duckdb' AS o",
        "ATTACH ':memory:' AS m; CREATE TABLE m.t AS SELECT 1; "
        f"COPY m.t TO '{lake}/from_memory.csv'",
        "INSTALL httpfs", "LOAD httpfs", "FORCE INSTALL httpfs",
        "SET enable_external_access = true", "RESET enable_external_access",
        f"SET allowed_directories = ['{lake}']", "SET lock_configuration = false",
        f"SET temp_directory = '{lake}/tmp'",
        f"PRAGMA profiling_output = '{lake}/profile.json'", "PRAGMA enable_profiling",
        f"CALL enable_logging(storage = 'file', storage_path = '{lake}/log')",
        "CALL pragma_version()", "CHECKPOINT", "FORCE CHECKPOINT",
        "CREATE TABLE t AS SELECT 1", "INSERT INTO usage_daily SELECT * FROM usage_daily",
        "DELETE FROM policy_buckets", "DROP VIEW access_logs",
        "CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
        f"SELECT * FROM read_text('{home}/../../etc/passwd')",
        f"SELECT * FROM read_json('{claim}')",
        f"SELECT * FROM read_parquet('{part}')",
        "SELECT * FROM glob('/etc/*')",
        f"CREATE TEMP TABLE tt AS SELECT 1; COPY tt TO '{part}'",
        f"WITH x AS (SELECT 1) SELECT * FROM x; COPY (SELECT 2) TO '{home}/out.csv'",
    ]


def tree_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def s3_hashes(endpoint: str) -> dict[str, str]:
    client = boto3.client("s3", endpoint_url=endpoint)
    out = {}
    for b in client.list_buckets()["Buckets"]:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=b["Name"]):
            for o in page.get("Contents", []):
                body = client.get_object(Bucket=b["Name"], Key=o["Key"])["Body"].read()
                out[f"{b['Name']}/{o['Key']}"] = hashlib.sha256(body).hexdigest()
    return out


def build(tmp_path: Path, lake: Lake) -> Path:
    """A lake with a day of records, every mart for that day and an alert claim, and the
    warehouse over it."""
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    body = b"\n".join(line(key=f"k{i}", request_id=f"r{i}",
                           time="[16/Nov/2026:05:00:00 +0000]") for i in range(5)) + b"\n"
    (logs / f"{DAY}-05-00-00-00000000000000A1").write_bytes(body)
    ingest([LogSource(str(logs))], lake, [DAY], progress=False)
    run_models(lake, DAY, DAY)
    lake.put(lake.path("_alerts", "0123456789abcdef.json"), b'{"claimed_by": "run"}')
    path = tmp_path / "w.duckdb"
    warehouse.build(lake, str(path))
    return path


def attempt_everything(tmp_path: Path, lake: Lake, path: Path, env: dict, monkeypatch,
                       capsys) -> list[str]:
    """Runs every probe through `s3logs query` (in this process: each opens the warehouse
    anew) and all of them through one `s3logs shell` process; returns the probes that
    exited 0 (allowed: they wrote nothing)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "S3LOGS_WAREHOUSE": str(path),
           "S3LOGS_LAKE": lake.url, **env}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(home)
    (part,) = [lake.display(p) for p in lake.files()]
    statements = probes(lake.display(lake.path()), part,
                        lake.display(lake.path("_alerts", "0123456789abcdef.json")), home)
    allowed = []
    for sql in statements:
        code = main(["query", sql])
        err = capsys.readouterr().err
        if code == 0:
            allowed.append(sql)
        else:
            assert code == 2 and len(err.strip().splitlines()) == 1, (sql, err)
    shell = subprocess.run([S3LOGS, "shell"], capture_output=True, text=True, timeout=300,
                           env=env, cwd=home, input="".join(s + ";\n" for s in statements)
                           + "SELECT count(*) AS n FROM access_logs;\n")
    assert shell.returncode == 0 and "Traceback" not in shell.stderr, shell.stderr
    assert "n\n-\n5\n(1 rows)" in shell.stdout  # and it still reads
    assert shell.stdout.count("error: the warehouse is for reading") >= len(statements) - 12
    return allowed


def test_no_statement_writes_a_local_lake_or_any_file(tmp_path, monkeypatch, capsys):
    lake = Lake(str(tmp_path / "lake"))
    path = build(tmp_path, lake)
    before = tree_hashes(tmp_path)
    allowed = attempt_everything(tmp_path, lake, path, {}, monkeypatch, capsys)
    assert tree_hashes(tmp_path) == before
    # what ran is harmless: reads, and changes to the connection's own memory
    assert set(allowed) <= {"CALL pragma_version()", "CHECKPOINT", "FORCE CHECKPOINT"}


def test_no_statement_writes_a_lake_on_s3(s3, s3_endpoint, tmp_path, monkeypatch, capsys):
    lake = Lake("s3://lake/s3logs")
    path = build(tmp_path, lake)
    before, objects = tree_hashes(tmp_path), s3_hashes(s3_endpoint)
    # Each `s3logs query` still opens a new DuckDB connection and lists and mounts every
    # lake folder anew; only the S3 client under the Arrow datasets (read-only, no listing
    # cache) is made once per endpoint instead of once per probe, as `s3logs shell` does
    # for all its statements. Making one costs about a third of each probe.
    made = {}
    new_client = storage.s3_filesystem
    monkeypatch.setattr(storage, "s3_filesystem", lambda endpoint=None, counts=None: (
        made.get(endpoint) or made.setdefault(endpoint, new_client(endpoint))))
    attempt_everything(tmp_path, lake, path, {
        "AWS_ENDPOINT_URL_S3": s3_endpoint, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"},
        monkeypatch, capsys)
    assert tree_hashes(tmp_path) == before
    assert s3_hashes(s3_endpoint) == objects


@pytest.mark.parametrize("name", ["lake[1]", "la*ke?", "lake{a,b}"])
def test_glob_characters_in_the_lake_and_warehouse_paths(tmp_path, name):
    """A lake or warehouse path with glob characters broke every query on a lake view
    and the warehouse build."""
    folder = tmp_path / f"w{name}"
    folder.mkdir()
    lake = Lake(str(tmp_path / name))
    path = build(folder, lake)
    assert path.exists()
    decoy = tmp_path / name.replace("[", "").replace("]", "").replace("*", "x").replace(
        "?", "y").replace("{a,b}", "a")
    (tmp_path / f"decoy-{decoy.name}").mkdir()
    build(tmp_path / f"decoy-{decoy.name}", Lake(str(decoy)))  # a neighbour a glob matches
    env = {"PATH": "/usr/bin:/bin", "S3LOGS_WAREHOUSE": str(path), "S3LOGS_LAKE": lake.url}
    out = subprocess.run([S3LOGS, "query", "SELECT (SELECT count(*) FROM access_logs) AS a, "
                          "(SELECT count(*) FROM usage_daily) > 0 AS u, (SELECT count(*) "
                          "FROM quarantine) AS q", "--format", "csv"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.stdout.splitlines() == ['"a","u","q"', "5,true,0"], out.stderr
    # the warehouse's own views, as `duckdb -readonly` reads them, match only this lake
    con = duckdb.connect(str(path), read_only=True)
    assert con.execute("SELECT (SELECT count(*) FROM access_logs), (SELECT count(*) > 0 "
                       "FROM usage_daily)").fetchall() == [(5, True)]


def test_every_relation_reads_as_the_warehouse_file_shows_it(tmp_path):
    """The analyst connection reads the lake through Arrow datasets, not the file's views:
    every relation must still give the same columns, in the same order, and rows."""
    lake = Lake(str(tmp_path / "lake"))
    path = build(tmp_path, lake)
    plain = duckdb.connect(str(path), read_only=True)  # closed before ours: one instance
    plain.execute("SET TimeZone = 'UTC'")  # as s3logs sets it, so times print alike
    names = [n for (n,) in plain.execute("SELECT table_name FROM duckdb_tables() UNION ALL "
                                         "SELECT view_name FROM duckdb_views() WHERE NOT "
                                         "internal").fetchall()]
    assert {"lake_access_logs", "quarantine", "access_logs", "usage_daily"} <= set(names)
    theirs = {n: (plain.table(n).columns, sorted(map(str, plain.table(n).fetchall())))
              for n in names}
    plain.close()
    mine = warehouse.open_warehouse(str(path), lake)
    for name in names:
        ours = mine.table(name)
        assert (ours.columns, sorted(map(str, ours.fetchall()))) == theirs[name], name
