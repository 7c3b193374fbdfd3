"""The `s3logs` command as a user runs it."""

from __future__ import annotations

import re
import subprocess

import pyarrow.parquet as pq

from tests.helpers import S3LOGS, billing_lake, run


def test_synth_then_parse_reconciles(tmp_path):
    logs = tmp_path / "logs"
    out = run("synth", str(logs), "--mixed", "--days", "2", "--records-per-day", "400")
    assert out.returncode == 0, out.stderr
    assert "log objects" in out.stdout
    (logs / "logs" / "broken").write_bytes(b"not a log line\n\n")
    res = run("parse", str(logs), "--out", str(tmp_path / "r.parquet"),
              "--rejects", str(tmp_path / "x.parquet"))
    assert res.returncode == 0, res.stderr
    records = pq.read_table(tmp_path / "r.parquet")
    rejects = pq.read_table(tmp_path / "x.parquet")
    said = dict(line.split(":", 1) for line in res.stdout.splitlines() if ":" in line)
    read = int(said["lines read"].replace(",", ""))
    assert read == len(records) + len(rejects)
    assert int(said["rows written"].split()[0].replace(",", "")) == len(records)
    assert int(said["rows rejected"].split()[0].replace(",", "")) == len(rejects)
    assert b"not a log line" in rejects["raw_line"].to_pylist()


def test_missing_input_is_one_clear_sentence(tmp_path):
    res = run("parse", str(tmp_path / "nope"), "--out", str(tmp_path / "r.parquet"))
    assert res.returncode == 2
    assert "does not exist" in res.stderr and "Traceback" not in res.stderr


def test_a_newcomers_errors_are_one_sentence_each(tmp_path):
    base = {"PATH": "/usr/bin:/bin", "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_DEFAULT_REGION": "us-east-1"}
    ingest = ["ingest", "--source", "s3://some-bucket/logs/", "--lake", str(tmp_path / "l"),
              "--days", "2026-11-16", "--quiet"]
    cases = [
        (ingest, {}, "no AWS credentials found"),
        (ingest, {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y",
                  "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"}, "cannot reach the S3 endpoint"),
        (["ingest", "--source", str(tmp_path), "--lake", str(tmp_path / "l"), "--days",
          "2026-11-16"], {}, "no log objects found"),
        (["demo", "report"], {"S3LOGS_LATE_DAYS": "soon"}, "S3LOGS_LATE_DAYS='soon'"),
        (["query", "SELECT 1"], {"S3LOGS_WAREHOUSE": str(tmp_path / "none.duckdb")},
         "does not exist yet"),
        (["ingest", "--source", str(tmp_path), "--days", "yesterday"], {}, "is not a day"),
    ]
    for args, env, expected in cases:
        res = subprocess.run([S3LOGS, *args], capture_output=True, text=True, timeout=120,
                             env={**base, **env})
        assert res.returncode == 2, (args, res.stderr)
        assert expected in res.stderr and "Traceback" not in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_every_command_takes_lake_warehouse_and_endpoint_defaulting_to_the_settings(tmp_path):
    import duckdb

    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t AS SELECT 42 AS answer")
    con.close()
    env = {"PATH": "/usr/bin:/bin", "S3LOGS_WAREHOUSE": str(tmp_path / "missing.duckdb")}
    out = subprocess.run([S3LOGS, "query", "--warehouse", str(other), "SELECT answer FROM t",
                          "--format", "csv"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.splitlines() == ['"answer"', "42"], out.stderr
    lake = billing_lake(tmp_path)
    env["S3LOGS_REPORT"] = str(tmp_path / "from-settings.html")
    out = subprocess.run([S3LOGS, "report", "--lake", lake.url, "--start", "2026-11-10",
                          "--end", "2026-11-11"], capture_output=True, text=True, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "<svg" in (tmp_path / "from-settings.html").read_text()
    for command in (["ingest"], ["models", "run"], ["query"], ["report"], ["warehouse"],
                    ["logging", "status"], ["retention", "lake"], ["demo"], ["parse"]):
        usage = run(*command, "--help").stdout
        assert "--lake" in usage and "--warehouse" in usage and "--endpoint" in usage, command


def test_ingest_prints_the_checks_and_fails_when_an_error_check_fails(tmp_path):
    from tests.loglines import line

    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "2026-11-16-05-00-00-0000000000000001").write_bytes(
        b"\n".join([b"<html>not a log line</html>"] * 5 + [line()]) + b"\n")
    out = run("ingest", "--source", str(logs), "--lake", str(tmp_path / "lake"),
              "--days", "2026-11-16", "--layout", "simple", "--quiet")
    assert out.returncode == 1, out.stderr
    assert re.search(r"check parse_rate\s+FAILED\s+16\.667% of 6 lines parsed", out.stdout)
    assert re.search(r"check lines_reconcile\s+passed", out.stdout)
    listed = run("query", "--list").stdout
    assert "usage_daily" in listed and "lake_access_logs" in listed and "top_requesters" in listed
