"""The `s3logs` command as a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

S3LOGS = str(Path(sys.executable).parent / "s3logs")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([S3LOGS, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_synth_then_parse_reconciles(tmp_path):
    logs = tmp_path / "logs"
    out = run("synth", str(logs), "--days", "2", "--records-per-day", "400")
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
