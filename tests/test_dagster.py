"""The Dagster code location: real assets materialized with an ephemeral instance against
the local S3 endpoint, the schedule, the sensor, the checks, and the CLI as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq

from assets import models as models_assets
from assets.automation import daily_job, daily_schedule, new_log_objects
from assets.definitions import defs
from assets.ingest import access_logs, log_objects
from assets.models import model_assets
from assets.partitions import DAILY, range_tags
from assets.resources import (
    AlertsResource,
    LakeResource,
    LogSourcesResource,
    ReportResource,
    S3Settings,
    SecurityResource,
    WarehouseResource,
)
from assets.warehouse import analyst_warehouse
from pipelines.lake.store import LAKE_SCHEMA, Lake
from pipelines.parsing.parse import parse_log
from pipelines.sql.catalog import load
from pipelines.sql.models import model_names
from pipelines.synthetic.synth import Profile, SynthConfig, generate_objects, write_objects
from tests.helpers import upload
from tests.loglines import line

ROOT = Path(__file__).resolve().parents[1]
# Good data: every known generation of the format, but no fields beyond the 27 known ones
# (those make the unknown_trailing_fields check warn, as a planted-data test shows).
CFG = SynthConfig(days=3, records_per_day=200, records_per_object=40,
                  profile=Profile(field_counts=((18, 2), (24, 3), (25, 5), (26, 40), (27, 50))))
DAY = CFG.start.isoformat()
ASSETS = [log_objects, access_logs, *model_assets, analyst_warehouse]


def resources(tmp_path, source="s3://target-logs/logs/") -> dict:
    s3 = S3Settings()
    return {"s3": s3, "log_sources": LogSourcesResource(urls=[source], s3=s3),
            "lake": LakeResource(url=str(tmp_path / "lake"), s3=s3),
            "warehouse": WarehouseResource(path=str(tmp_path / "warehouse.duckdb")),
            "security": SecurityResource()}


def checks(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)
    names = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert names == {"log_objects", "access_logs", "analyst_warehouse", "activity_report",
                     "security_alerts",
                     *model_names()}
    # the daily job runs every asset: ingestion, each model of the catalog, the warehouse,
    # the report and the alerts
    job = defs.resolve_job_def("daily_logs")
    assert {k.to_user_string() for k in job.asset_layer.selected_asset_keys} == names
    assert defs.resolve_schedule_def("daily_schedule")
    assert defs.resolve_sensor_def("new_log_objects")
    # each model's asset sits in the group of its subject (its folder under sql/)
    graph = defs.resolve_asset_graph()
    catalog = load()
    assert {name: graph.get(dg.AssetKey(name)).group_name for name in model_names()} == {
        name: catalog[name].subject for name in model_names()}
    assert {catalog[name].subject for name in model_names()} >= {"usage", "billing", "security"}


def test_a_models_window_is_its_dependency_on_the_summaries_it_reads():
    """A day of detections depends on the 28 days of summaries before it (and billing on
    the month's), so a backfill runs each day after what its window reads."""
    graph = defs.resolve_asset_graph()
    mapping = graph.get_partition_mapping(dg.AssetKey("security_detections"),
                                          dg.AssetKey("security_activity"))
    first = DAILY.start.date()
    day = (first + timedelta(days=30)).isoformat()
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        DAILY.subset_with_partition_keys([day]), DAILY, DAILY).partitions_subset
    keys = sorted(upstream.get_partition_keys())
    assert keys == [(first + timedelta(days=i)).isoformat() for i in range(2, 31)]
    billing = graph.get_partition_mapping(dg.AssetKey("billing_daily"),
                                          dg.AssetKey("transfer_out_daily"))
    assert billing.start_offset == -30


def test_materialize_one_day(s3, tmp_path):
    upload(s3, "target-logs", generate_objects(CFG))
    result = dg.materialize(ASSETS, partition_key=DAY, resources=resources(tmp_path),
                            instance=dg.DagsterInstance.ephemeral())
    assert result.success
    listed = result.asset_materializations_for_node("log_objects")[0].metadata
    assert listed["objects_listed"].value > 0 and listed["list_requests"].value >= 1
    meta = result.asset_materializations_for_node("access_logs")[0].metadata
    assert meta["dagster/row_count"].value > 0 and meta["get_requests"].value > 0
    assert meta["parse_rate"].value > 0.99 and "| request_time |" in meta["preview"].value
    assert set(meta["buckets"].value) == set(CFG.buckets)
    assert all(e.passed for e in checks(result).values()), checks(result)
    lake = Lake(str(tmp_path / "lake"))
    assert lake.files() and all("/dt=" in f for f in lake.files())
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM access_logs").fetchone()[0] == \
        lake.dataset().count_rows()


def test_a_range_of_days_is_one_run(s3, tmp_path, monkeypatch):
    """One run; inside it, ingestion units per source and day, the partition rebuilds
    in groups, and each model's days in spans of their own steps (here a day each), so
    executors run them at once."""
    monkeypatch.setattr(models_assets, "SPAN_DAYS", 1)
    upload(s3, "target-logs", generate_objects(CFG))
    last = (CFG.start + timedelta(days=CFG.days - 1)).isoformat()
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(ASSETS, resources=resources(tmp_path), instance=instance,
                            tags=range_tags(DAY, last))
    assert result.success
    assert len(instance.get_runs()) == 1
    days = {(CFG.start + timedelta(days=i)).isoformat() for i in range(CFG.days)}
    done = {m.partition for m in result.asset_materializations_for_node("access_logs")}
    assert done == days
    assert all(e.passed for e in checks(result).values())
    steps = [e.step_key for e in result.get_step_success_events()]
    groups = [k for k in steps if k.startswith("access_logs.access_logs_folder[")]
    assert len(groups) == 8  # the run's partition rebuilds, spread over rebuild_steps
    for name in model_names():
        spans = sorted(k for k in steps if k.startswith(f"{name}.{name}_span["))
        assert spans == sorted(f"{name}.{name}_span[{d.replace('-', '_')}]" for d in days)
    lake = Lake(str(tmp_path / "lake"))
    assert {f.split("/dt=")[1][:10] for f in lake.files("marts/usage_daily")} == days


def test_checks_fail_on_planted_bad_data(s3, tmp_path):
    garbage = b"\n".join([b"<html>not a log line</html>"] * 5 + [line()]) + b"\n"
    upload(s3, "target-logs", [("logs/2026-11-16-05-00-00-0000000000000001", garbage),
                               ("logs/2026-11-16-05-00-00-0000000000000002",
                                line(extra=("x-new-field",)) + b"\n")])
    lake = Lake(str(tmp_path / "lake"))
    planted = lake.path("access_logs", "dt=2026-11-16", "bucket=planted-bucket")
    os.makedirs(planted)  # a partition the run does not rewrite, holding a record twice
    twice = parse_log(line(bucket="planted-bucket") + b"\n", "planted").records.select(
        LAKE_SCHEMA.names)
    pq.write_table(twice, f"{planted}/part-00000.parquet")
    pq.write_table(twice, f"{planted}/part-00001.parquet")
    result = dg.materialize(ASSETS, partition_key="2026-11-16", resources=resources(tmp_path),
                            instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    found = checks(result)
    assert not found["parse_rate"].passed
    assert found["parse_rate"].severity == dg.AssetCheckSeverity.ERROR
    assert found["lines_reconcile"].passed and found["listing_in_manifest"].passed
    assert not found["unknown_trailing_fields"].passed
    assert found["unknown_trailing_fields"].severity == dg.AssetCheckSeverity.WARN
    assert not found["unique_record_ids"].passed
    # a blocking check failed: the warehouse downstream was not rebuilt
    assert not result.asset_materializations_for_node("analyst_warehouse")


def test_daily_schedule_asks_for_yesterday_and_the_late_days():
    sources = LogSourcesResource(urls=["s3://target-logs/logs/"], s3=S3Settings(),
                                 late_days=2)
    with dg.build_schedule_context(
            scheduled_execution_time=datetime(2026, 11, 24, 3, 15, tzinfo=UTC),
            resources={"log_sources": sources}) as ctx:
        request = daily_schedule(ctx)
    assert request.tags == range_tags("2026-11-21", "2026-11-23")
    assert defs.resolve_schedule_def("daily_schedule").cron_schedule == "15 3 * * *"


def test_the_daily_schedules_run_posts_each_new_finding_once(s3, tmp_path, receiver):
    """The schedule's request, run as the daily job: ingestion, models, warehouse, report
    and alerts. Each new medium+ finding reaches the webhook once; the same run again
    (a retry, a second tick) posts nothing."""
    day = datetime(2026, 11, 23, tzinfo=UTC)
    stamp = f"[{day:%d/%b/%Y}:10:00:00 +0000]"
    scan = [line(time=stamp, request_id=f"SCAN{i}", user_agent='"sqlmap/1.7"',
                 http_status="404", error_code="NoSuchKey", key=f"admin{i}.php")
            for i in range(3)]
    upload(s3, "target-logs", [("logs/2026-11-23-10-00-00-00000000000000A1",
                                b"\n".join([line(time=stamp), *scan]) + b"\n")])
    mine = {**resources(tmp_path),
            "reporting": ReportResource(path=str(tmp_path / "report.html"), days=3),
            "alerting": AlertsResource(webhook=receiver.url, max_age_days=100000)}
    job = dg.Definitions(assets=list(defs.assets), jobs=[daily_job],
                         resources=mine).resolve_job_def("daily_logs")
    with dg.build_schedule_context(
            scheduled_execution_time=datetime(2026, 11, 24, 3, 15, tzinfo=UTC),
            resources={"log_sources": mine["log_sources"]}) as ctx:
        request = daily_schedule(ctx)
    instance = dg.DagsterInstance.ephemeral()
    for _ in range(2):
        result = job.execute_in_process(tags=request.tags, instance=instance)
        assert result.success
    done = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"access_logs", "security_findings", "analyst_warehouse", "activity_report",
            "security_alerts"} <= done
    posted = [f["finding_id"] for b in receiver.bodies for f in b["findings"]]
    con = duckdb.connect()
    con.register("found", Lake(str(tmp_path / "lake")).dataset("marts/security_findings"))
    expected = {r[0] for r in con.execute(
        "SELECT finding_id FROM found WHERE severity IN ('medium', 'high') "
        "AND status = 'new' AND NOT suppressed").fetchall()}
    assert expected and sorted(posted) == sorted(expected)   # each once, none twice
    assert any("scanner_user_agent" in b["text"] for b in receiver.bodies)


def test_sensor_cursor_advances_and_a_quiet_tick_requests_nothing(s3, tmp_path):
    upload(s3, "target-logs", generate_objects(replace(CFG, days=2)))
    res = resources(tmp_path)

    def tick(cursor=None):
        with dg.build_sensor_context(cursor=cursor, resources=res) as ctx:
            return new_log_objects(ctx)

    first = tick()
    assert len(first.run_requests) == 1
    tags = first.run_requests[0].tags
    assert tags["dagster/asset_partition_range_start"] == DAY
    cursor = json.loads(first.cursor)
    assert cursor["s3://target-logs/logs/"]
    quiet = tick(first.cursor)
    assert not quiet.run_requests and json.loads(quiet.cursor) == cursor
    s3.put_object(Bucket="target-logs", Key="logs/2026-11-23-08-00-00-0000000000ABCDEF",
                  Body=line(time="[23/Nov/2026:07:59:00 +0000]") + b"\n")
    later = tick(quiet.cursor)
    assert [r.tags["dagster/asset_partition_range_start"] for r in later.run_requests] == \
        ["2026-11-23"]


def test_dagster_cli_as_the_readme_says(tmp_path):
    logs = tmp_path / "logs"
    write_objects(replace(CFG, days=2), logs)
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {**os.environ, "S3LOGS_SOURCES": str(logs / "logs"), "S3LOGS_LAKE": str(tmp_path / "l"),
           "S3LOGS_WAREHOUSE": str(tmp_path / "w.duckdb"), "DAGSTER_HOME": str(home)}
    env.pop("AWS_ENDPOINT_URL_S3", None)
    bin_dir = Path(sys.executable).parent

    def cli(*args: str) -> subprocess.CompletedProcess:
        out = subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-3000:]
        return out

    validated = cli("dagster", "definitions", "validate", "-w", "workspace.yaml")
    assert "passed validation" in validated.stdout + validated.stderr
    cli("dagster", "asset", "materialize", "-m", "assets.definitions",
        "--select", "log_objects,access_logs", "--partition", DAY)
    lake = Lake(str(tmp_path / "l"))
    assert {f.split("bucket=")[1].split("/")[0] for f in lake.files()} == set(CFG.buckets)
    assert {f.split("dt=")[1][:10] for f in lake.files()} == {DAY}
    second = (CFG.start + timedelta(days=1)).isoformat()
    env["S3LOGS_REPORT"] = str(tmp_path / "report.html")
    cli("dg", "launch", "--assets", "*", "--partition-range", f"{DAY}...{second}")
    assert {f.split("dt=")[1][:10] for f in lake.files()} >= {DAY, second}
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    rows = lake.dataset().count_rows()
    assert con.execute("SELECT count(*) FROM access_logs").fetchone()[0] == rows
    con.close()
    total = cli("s3logs", "query", "SELECT sum(requests) AS n FROM usage_daily",
                "--format", "csv").stdout.splitlines()
    assert total == ['"n"', str(rows)]
    assert "<svg" in (tmp_path / "report.html").read_text()


def test_two_runs_at_once_over_overlapping_days_converge(tmp_path):
    """No pool holds them back, and they are not even in one Dagster instance (as two
    deployments, a cron job and a person would be): the lake ends as one run writes it."""

    logs = tmp_path / "logs"
    write_objects(replace(CFG, days=4, late_fraction=0.5, records_per_day=400), logs)
    days = [(CFG.start + timedelta(days=i)).isoformat() for i in range(5)]
    reference = Lake(str(tmp_path / "reference"))
    ingest_all = subprocess.run(
        [str(Path(sys.executable).parent / "s3logs"), "ingest", "--source", str(logs / "logs"),
         "--lake", reference.url, "--days", f"{days[0]}..{days[-1]}", "--quiet"],
        capture_output=True, text=True, timeout=300)
    assert ingest_all.returncode == 0, ingest_all.stderr
    runs = []
    for i, (first, last) in enumerate([(days[0], days[3]), (days[1], days[4])]):
        home = tmp_path / f"home{i}"
        home.mkdir()
        env = {**os.environ, "S3LOGS_SOURCES": str(logs / "logs"),
               "S3LOGS_LAKE": str(tmp_path / "lake"), "DAGSTER_HOME": str(home)}
        env.pop("AWS_ENDPOINT_URL_S3", None)
        runs.append(subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m",
             "assets.definitions", "--select", "log_objects,access_logs",
             "--partition-range", f"{first}...{last}"], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for run in runs:  # read as it runs: a full stderr pipe would block the run
        _, stderr = run.communicate(timeout=300)
        assert run.returncode == 0, stderr[-3000:]
    assert Lake(str(tmp_path / "lake")).snapshot() == reference.snapshot()
