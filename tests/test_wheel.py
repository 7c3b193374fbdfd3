"""The wheel, as a deployment image or `pip install s3logs` gets it: built from the tree,
installed into a fresh virtual environment that cannot see the source, and run from
another folder: ingest, the models and a Dagster materialization, all rows reconciled."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import duckdb

from pipelines.lake.store import Lake

ROOT = Path(__file__).resolve().parents[1]
DAY, NEXT = "2026-11-16", "2026-11-17"
NOT_SOURCE = shutil.ignore_patterns(".venv", "data", ".git", ".bench", "build", "dist",
                                    "*.egg-info", "__pycache__", ".pytest_cache",
                                    ".hypothesis", ".ruff_cache")


def _run(cmd: list, cwd: Path, env: dict | None = None) -> str:
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, f"{cmd}\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}"
    return out.stdout


def test_the_wheel_runs_the_pipeline_without_the_source_tree(tmp_path):
    src, dist, venv, work = (tmp_path / n for n in ("src", "dist", "venv", "work"))
    shutil.copytree(ROOT, src, ignore=NOT_SOURCE)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--quiet", "-w", dist, src], cwd=tmp_path)
    (wheel,) = dist.glob("s3logs-*.whl")
    shutil.rmtree(src)  # nothing of the tree is left to fall back on

    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                                    "['purelib'])"], cwd=tmp_path).strip())
    # The third-party packages come from this environment (no download in the test);
    # a .pth line adds that folder only, without running its editable-install hooks.
    (site / "_s3logs_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel],
         cwd=tmp_path)

    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "S3LOGS_SQL_DIR",
                                                            "AWS_ENDPOINT_URL_S3")}
    where = json.loads(_run([python, "-c", "import json, pipelines, assets, s3logs_sql; "
                             "print(json.dumps([m.__file__ for m in "
                             "(pipelines, assets, s3logs_sql)]))"], cwd=work, env=env))
    assert all(path.startswith(str(venv)) for path in where), where

    s3logs = venv / "bin" / "s3logs"
    _run([s3logs, "synth", "logs", "--mixed", "--start", DAY, "--days", "2",
          "--records-per-day", "300"],
         cwd=work, env=env)
    report = json.loads(_run([s3logs, "ingest", "--source", "logs/logs/", "--lake", "lake",
                              "--days", f"{DAY}..{NEXT}", "--json", "--quiet"],
                             cwd=work, env=env))
    days = report["days"]
    assert sum(d["lines_read"] for d in days) == sum(
        d["rows_parsed"] + d["rows_quarantined"] for d in days) > 0
    assert all(c["passed"] or c["severity"] == "warn" for c in report["checks"])
    _run([s3logs, "models", "run", "--lake", "lake", "--days", f"{DAY}..{NEXT}"],
         cwd=work, env=env)

    (work / "home").mkdir()
    env |= {"S3LOGS_SOURCES": "logs/logs/", "S3LOGS_LAKE": "lake",
            "S3LOGS_WAREHOUSE": "w.duckdb", "S3LOGS_REPORT": "report.html",
            "DAGSTER_HOME": str(work / "home")}
    _run([python, "-m", "dagster", "asset", "materialize", "-m", "assets.definitions",
          "--select", "*", "--partition", DAY], cwd=work, env=env)

    lake = Lake(str(work / "lake"))
    rows = lake.dataset().to_table(columns=["dt"])
    con = duckdb.connect(str(work / "w.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM access_logs").fetchone()[0] == rows.num_rows
    day_rows = sum(1 for dt in rows["dt"].to_pylist() if dt == DAY)
    assert con.execute("SELECT sum(requests) FROM usage_daily WHERE dt = ?",
                       [DAY]).fetchone()[0] == day_rows
    assert "<svg" in (work / "report.html").read_text()
