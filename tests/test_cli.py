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
