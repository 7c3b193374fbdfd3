"""Dagster as production runs it: a gRPC code server, the webserver and the daemon, with
run and event storage in PostgreSQL. The sensor, turned on through the webserver's GraphQL
API, sees the log objects and requests a run; the daemon dequeues and launches it; its
success is read back through GraphQL."""

from __future__ import annotations

import os
import urllib.request
from dataclasses import replace

import duckdb
import pytest

from pipelines.lake.store import Lake
from pipelines.synthetic.synth import Profile, SynthConfig, write_objects
from tests.servers import (
    BIN,
    free_port,
    graphql,
    instance_yaml,
    postgres,
    postgres_available,
    processes,
    wait_for,
)

CFG = SynthConfig(days=2, records_per_day=300, records_per_object=50,
                  profile=Profile(field_counts=((26, 1), (27, 1))))
START_SENSOR = """mutation($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}"""
RUNS = """{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"""


@pytest.mark.skipif(not postgres_available(), reason="PostgreSQL is not installed "
                    "(make test installs Debian's postgresql)")
def test_a_sensor_launched_run_completes_under_the_daemon_with_postgres(tmp_path):
    write_objects(replace(CFG), tmp_path / "logs")
    home = tmp_path / "home"
    home.mkdir()
    grpc_port, web_port = free_port(), free_port()
    (tmp_path / "workspace.yaml").write_text(
        f"load_from:\n  - grpc_server:\n      host: 127.0.0.1\n      port: {grpc_port}\n"
        "      location_name: s3_access_logs\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "S3LOGS_SOURCES": str(tmp_path / "logs" /
                                                                          "logs"),
           "S3LOGS_LAKE": str(tmp_path / "lake"), "S3LOGS_WAREHOUSE": str(tmp_path / "w.duckdb"),
           "S3LOGS_REPORT": str(tmp_path / "report.html"), "PYTHONUNBUFFERED": "1"}
    env.pop("AWS_ENDPOINT_URL_S3", None)
    url = f"http://127.0.0.1:{web_port}"
    with postgres() as (_, pg_port):
        (home / "dagster.yaml").write_text(_polling_queue(instance_yaml(pg_port)))
        commands = {
            "code-server": [str(BIN / "dagster"), "code-server", "start", "-m",
                            "assets.definitions", "-h", "127.0.0.1", "-p", str(grpc_port)],
            "webserver": [str(BIN / "dagster-webserver"), "-w", str(tmp_path / "workspace.yaml"),
                          "-h", "127.0.0.1", "-p", str(web_port)],
            "daemon": [str(BIN / "dagster-daemon"), "run", "-w",
                       str(tmp_path / "workspace.yaml")],
        }
        with processes(commands, env, tmp_path):
            try:
                wait_for(lambda: _up(url), 120, "the webserver")
                selector = {"repositoryLocationName": "s3_access_logs",
                            "repositoryName": "__repository__", "sensorName": "new_log_objects"}
                started = wait_for(lambda: _start_sensor(url, selector), 120,
                                   "the code location to load")
                assert started["sensorState"]["status"] == "RUNNING", started
                run = wait_for(lambda: _finished_run(url), 240, "a sensor run to finish",
                               every=1)
            except Exception:
                for name in commands:
                    print(f"--- {name}\n" + (tmp_path / f"{name}.log").read_text()[-4000:])
                raise
    assert run["status"] == "SUCCESS", run
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert tags["dagster/sensor_name"] == "new_log_objects"
    assert tags["dagster/asset_partition_range_start"] == CFG.start.isoformat()
    rows = Lake(str(tmp_path / "lake")).dataset().count_rows()
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    assert rows > 0 and con.execute("SELECT count(*) FROM access_logs").fetchone()[0] == rows


def _polling_queue(settings: str) -> str:
    """The production instance settings, with the daemon looking at the run queue every
    second instead of every 5 s (QueuedRunCoordinator's dequeue_interval_seconds): the
    same queue and daemon, the queued run just waits less for its turn."""
    queue = "    max_concurrent_runs: 2\n"
    assert queue in settings, settings
    return settings.replace(queue, queue + "    dequeue_interval_seconds: 1\n")


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=5):
            return True
    except OSError:
        return False


def _start_sensor(url: str, selector: dict) -> dict | None:
    answer = graphql(url, START_SENSOR, {"selector": selector})["startSensor"]
    return answer if answer["__typename"] == "Sensor" else None


def _finished_run(url: str) -> dict | None:
    runs = graphql(url, RUNS)["runsOrError"]["results"]
    done = [r for r in runs if r["status"] in ("SUCCESS", "FAILURE", "CANCELED")]
    return done[0] if done else None
