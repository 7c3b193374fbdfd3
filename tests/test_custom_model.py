"""Adding a model is one SQL file: a throwaway model in a copy of the SQL folder is
discovered, run, audited and documented in the warehouse, by the command line and by
Dagster, without a line of Python."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow.compute as pc

from pipelines.lake.store import Lake
from pipelines.synthetic.synth import Profile, SynthConfig, write_objects
from tests.helpers import S3LOGS

ROOT = Path(__file__).resolve().parents[1]
CFG = SynthConfig(days=2, records_per_day=300, records_per_object=50,
                  profile=Profile(field_counts=((26, 1), (27, 1))))
DAY = CFG.start.isoformat()
LAST = (CFG.start.replace(day=CFG.start.day + 1)).isoformat()

HOURLY = """MODEL (
  name requests_by_hour,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  grain (dt, bucket, hour),
  audits (not_null (requests), row_count_min (1)),
  description 'Requests per hour of the day, per bucket.',
  column_descriptions (
    dt = 'UTC day (partition).',
    bucket = 'Source bucket.',
    hour = 'Hour of the day, 0-23 (UTC).',
    requests = 'Number of requests in that hour.'
  )
);
SELECT dt, bucket, hour(request_time) AS hour, count(*) AS requests
FROM access_logs
WHERE dt BETWEEN $start_date AND $end_date
GROUP BY ALL
ORDER BY hour DESC  -- any order: the runner splits by dt and sorts by the grain
"""
# Declares one row per (dt, bucket) but returns one per operation: the audit must say so.
TOO_COARSE = HOURLY.replace("requests_by_hour", "requests_by_operation").replace(
    "grain (dt, bucket, hour)", "grain (dt, bucket)").replace(
    "hour = 'Hour of the day, 0-23 (UTC).'", "operation = 'S3 operation.'").replace(
    "hour(request_time) AS hour", "operation").replace("ORDER BY hour DESC", "").replace(
    "audits (not_null (requests), row_count_min (1)),", "")
# Written, but its header promises night hours only: the declared audit must say so.
NIGHT = HOURLY.replace("requests_by_hour", "requests_by_night_hour").replace(
    "audits (not_null (requests), row_count_min (1))",
    "audits (accepted_values (hour, (0, 1, 2, 3, 4, 5)))")


def test_a_new_model_is_one_sql_file(tmp_path):
    sql = tmp_path / "sql"   # the team's folder holds only its own files
    (sql / "custom").mkdir(parents=True)
    (sql / "custom" / "requests_by_hour.sql").write_text(HOURLY)
    (sql / "custom" / "requests_by_operation.sql").write_text(TOO_COARSE)
    (sql / "custom" / "requests_by_night_hour.sql").write_text(NIGHT)
    write_objects(replace(CFG), tmp_path / "logs")
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "S3LOGS_SQL_DIR": str(sql), "S3LOGS_LAKE": str(tmp_path / "lake"),
           "S3LOGS_SOURCES": str(tmp_path / "logs" / "logs"), "DAGSTER_HOME": str(home),
           "S3LOGS_WAREHOUSE": str(tmp_path / "w.duckdb")}
    env.pop("AWS_ENDPOINT_URL_S3", None)

    def run(*args: str, expect: int = 0) -> str:
        out = subprocess.run([S3LOGS, *args], capture_output=True, text=True, env=env,
                             timeout=300)
        assert out.returncode == expect, out.stdout + out.stderr
        return out.stdout

    listed = run("models", "list")
    assert "requests_by_hour" in listed and "custom/requests_by_hour.sql" in listed
    assert "usage_daily" in listed and "prices" in listed   # the packaged ones, added to
    run("ingest", "--days", f"{DAY}..{LAST}", "--quiet")
    ran = run("models", "run", "--days", f"{DAY}..{LAST}", "--model", "requests_by_hour")
    assert re.search(r"check grain\s+passed\s+requests_by_hour", ran), ran
    for audit in ("requests_by_hour_not_null", "requests_by_hour_row_count_min"):
        assert re.search(rf"check {audit}\s+passed", ran), ran
    night = run("models", "run", "--days", DAY, "--model", "requests_by_night_hour", expect=1)
    assert re.search(r"check requests_by_night_hour_accepted_values_hour\s+FAILED", night), night
    coarse = run("models", "run", "--days", DAY, "--model", "requests_by_operation", expect=1)
    assert not (tmp_path / "lake" / "marts" / "requests_by_operation").exists()  # not written
    assert re.search(r"check grain\s+FAILED\s+requests_by_operation: [0-9,]+ rows break the "
                     r"grain", coarse)

    lake = Lake(str(tmp_path / "lake"))
    records = lake.dataset().to_table(columns=["dt"])
    hourly = lake.dataset("marts/requests_by_hour").to_table()
    for day in (DAY, LAST):  # each day's file holds that day's hours, all of its requests
        mine = hourly.filter(pc.equal(hourly["dt"], day))
        assert sum(mine["requests"].to_pylist()) == records.filter(
            pc.equal(records["dt"], day)).num_rows
        keys = list(zip(mine["bucket"].to_pylist(), mine["hour"].to_pylist()))
        assert keys == sorted(keys)  # written in grain order, whatever the SQL's order

    run("warehouse")
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    (doc,) = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = "
                         "'requests_by_hour'").fetchone()
    assert doc == "Requests per hour of the day, per bucket."
    docs = dict(con.execute("SELECT column_name, comment FROM duckdb_columns() "
                            "WHERE table_name = 'requests_by_hour'").fetchall())
    assert docs["hour"] == "Hour of the day, 0-23 (UTC)." and docs["dt"] == "UTC day (partition)."
    con.close()

    dagster = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m",
         "assets.definitions", "--select", "requests_by_hour", "--partition", DAY],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert dagster.returncode == 0, dagster.stderr[-3000:]
    assert re.search(r"Asset check .grain. on .requests_by_hour. passed",
                     dagster.stdout + dagster.stderr)
