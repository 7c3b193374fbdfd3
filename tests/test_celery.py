"""Steps on a fleet of workers: Dagster's Celery executor with a real Redis broker, two Celery
workers (one process each, working directories of their own), the lake on the local S3
endpoint and the Dagster instance in PostgreSQL, all started here on 127.0.0.1 with the
settings in deploy/celery/. A backfill spread over the two workers writes the lake the same
job writes in one process, byte for byte; a worker process killed mid-step fails its run at
once, and the re-execution from failure, whose worker is then lost outright, still ends with
that lake. The Kubernetes settings in deploy/ are checked against what dagster-k8s documents.

The servers, the two workers and the process the runs are launched from start once for the
module, and the two tests take turns on them (the second loses a worker: it runs last, and
a test that finds a worker gone starts it again). `pytest -s` prints where the time goes."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import dagster as dg
import pytest
import yaml
from dagster._config import validate_config
from dagster._core.execution.retries import get_retries_config

from assets.definitions import MULTIPROCESS, executor, executor_config
from pipelines.config import ConfigError, settings
from pipelines.synthetic.synth import Profile, SynthConfig, generate_objects
from tests.helpers import upload
from tests.servers import BIN, postgres, postgres_available, redis, redis_available, wait_for

# One xdist worker runs them all (make test: --dist loadgroup): the servers, the workers
# and the one-process lake are set up once for the module.
pytestmark = pytest.mark.xdist_group("celery")
ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
# Two days of two buckets' logs under one source: an ingestion unit per day, four lake
# folders (a day of a bucket) rebuilt by steps of their own, and a model span over both
# days, so the steps have somewhere to spread over the two workers.
CFG = SynthConfig(days=2, buckets=("shop-assets", "data-lake-raw"), records_per_day=200,
                  records_per_object=50, profile=Profile(field_counts=((26, 1), (27, 1))))
FIRST, LAST = CFG.start.isoformat(), (CFG.start + timedelta(days=CFG.days - 1)).isoformat()
# The daily job, for the assets that fan out: ingestion (a step per source and day, then a
# step per group of folders) and a SQL model (a step per span of days). The kill test runs
# the ingestion only, and compares what it writes.
INGESTION = ["log_objects", "access_logs"]
ASSETS = [*INGESTION, "usage_daily"]
# A rebuild step writing a folder's visible file: where the kill test catches a step.
VISIBLE_PUT = re.compile(r"^/lake/[^?]*/access_logs/dt=[^/]+/bucket=[^/]+/part-\d+\.parquet")
# Where the workers write: each test starts from an empty one (the reference: "single").
LAKE = "fleet"

# The process the Celery runs are launched from, as a run worker of the code server: it
# loads the code location with the executor the environment chooses (Celery), then runs
# the daily job for some assets over the days, or re-executes a run from its failure, one
# spec a line from stdin, and says how each ended and which Celery worker finished each
# step. One process for all the runs of the module saves a start-up (importing Dagster and
# the code location) per run. `dagster job execute` has no asset selection and no
# re-execution, hence the Python API. The executor looks at its steps' results every
# TICK seconds (dagster-celery: 1); sooner here, so that the next step is handed out
# sooner: the run waits for its steps less, and nothing else changes.
RUN_TIMEOUT = 240
TICK = 0.2
RUNNER = """
import json, os, sys
import dagster as dg
import dagster_celery.core_execution_loop as celery_loop
from dagster._core.definitions.reconstruct import ReconstructableRepository
celery_loop.TICK_SECONDS = float(sys.argv[1])
answers = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # what else is printed goes to the log
job = ReconstructableRepository.for_module("assets.definitions", "defs") \\
    .get_reconstructable_job("daily_logs")
instance = dg.DagsterInstance.get()
print(json.dumps({"ready": True}), file=answers, flush=True)
for line in sys.stdin:
    spec = json.loads(line)
    if spec.get("parent"):  # with the parent's days, as the UI's re-execution keeps them
        parent = instance.get_run_by_id(spec["parent"])
        options = dg.ReexecutionOptions.from_failure(parent.run_id, instance)
        tags = {k: v for k, v in parent.tags.items() if not k.startswith("dagster/")
                or k.startswith("dagster/asset_partition_range")}
        result = dg.execute_job(job, instance, tags=tags, reexecution_options=options)
    else:
        result = dg.execute_job(job, instance, tags=spec["tags"],
                                asset_selection=[dg.AssetKey(a) for a in spec["assets"]])
    events = result.all_events
    errors = [e.message + " " + (e.event_specific_data.error.to_string()
                                  if getattr(e.event_specific_data, "error", None) else "")
              for e in events if e.is_run_failure or e.is_step_failure]
    workers = {e.step_key: meta["Celery worker"].value.split("@")[0] for e in events
               if e.is_engine_event and e.step_key
               and "Celery worker" in (meta := e.event_specific_data.metadata or {})}
    print(json.dumps({"run_id": result.run_id, "success": result.success, "errors": errors,
                      "workers": workers}), file=answers, flush=True)
"""


class Clock:
    """The wall-clock seconds of each phase of the module, printed as each ends (pytest -s)
    and all together at the end, with the load average they were taken under."""

    def __init__(self) -> None:
        self.phases: list[tuple[str, float]] = []

    @contextmanager
    def __call__(self, what: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phases.append((what, time.perf_counter() - started))
            print(f"\n[celery] {what}: {self.phases[-1][1]:.1f} s", flush=True)

    def summary(self) -> str:
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        return "\n".join([f"[celery] phases (load average now {load}):",
                          *(f"  {s:6.1f} s  {w}" for w, s in self.phases),
                          f"  {sum(s for _, s in self.phases):6.1f} s  in all"])


def _in_ci() -> bool:
    """CI services set the CI environment variable (GitHub Actions, GitLab CI, Buildkite...)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _servers_or_skip() -> None:
    """A loud skip when PostgreSQL or Redis is not installed here, a failure in CI."""
    missing = [name for name, ok in (("postgresql", postgres_available()),
                                     ("redis-server", redis_available())) if not ok]
    if not missing:
        return
    why = (f"{' and '.join(missing)} not installed: the Celery tests start their own "
           "PostgreSQL and Redis (make test installs Debian's packages)")
    if _in_ci():
        pytest.fail(f"{why} (CI is set: they are required in CI)", pytrace=False)
    pytest.skip(f"every Celery test skipped: {why}")


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen
    log: Path

    def pool(self) -> list[int]:
        """The worker's pool processes (the ones running steps): dagster-celery starts
        `celery worker`, whose children they are."""
        return [pid for child in _children(self.proc.pid) for pid in _children(child)]

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"worker {self.name} exited:\n{self.log.read_text()[-3000:]}")
        return " ready." in self.log.read_text(errors="replace")


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Runner:
    """The RUNNER process: `submit` hands it a run, `finish` waits for how the run ended."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.log = folder / "runner.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", RUNNER, str(TICK)], env=env, cwd=folder,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=out, text=True)
        self.answers: queue.Queue = queue.Queue()
        self.started = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            if json.loads(line).get("ready"):
                self.started.set()
            else:
                self.answers.put(json.loads(line))
        self.answers.put(None)  # the process ended

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the runner exited:\n{self.tail(0)}")
        return self.started.is_set()

    def tail(self, offset: int) -> str:
        return self.log.read_bytes()[offset:].decode(errors="replace")

    def submit(self, spec: dict) -> tuple[int, float]:
        offset = self.log.stat().st_size
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        return offset, time.perf_counter()

    def finish(self, handle: tuple[int, float]) -> tuple[float, dict | None]:
        offset, started = handle
        try:
            outcome = self.answers.get(timeout=RUN_TIMEOUT)
        except queue.Empty:
            outcome = None
        seconds = time.perf_counter() - started
        if outcome is None:
            self.stop()
            return seconds, {"log": self.tail(offset)}
        outcome["log"] = self.tail(offset)
        return seconds, outcome

    def stop(self) -> None:
        with suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Fleet:
    """The deployment's two Celery workers, each reaching S3 through its own endpoint of
    the gate, and the runner the runs are launched from, started once for the module."""

    NAMES = ("w1", "w2")

    def __init__(self, deployment: Deployment, executor_yaml: Path) -> None:
        self.d, self.executor_yaml = deployment, executor_yaml
        self.folder = deployment.tmp / "fleet"
        self.workers: dict[str, Worker] = {}
        self.retired: list[Worker] = []
        self.runner: Runner | None = None

    def settings(self) -> dict[str, str]:
        """The code location's settings, the Celery executor's among them."""
        return {**self.d.env, **self.d.celery, "S3LOGS_LAKE": f"s3://lake/{LAKE}",
                "S3LOGS_EXECUTOR_CONFIG": str(self.executor_yaml)}

    def start(self) -> bool:
        """Whatever is not running: a worker lost by an earlier test, the runner. Whether
        anything was."""
        started = False
        for name in self.NAMES:
            w = self.workers.get(name)
            if w is None or w.proc.poll() is not None:
                if w is not None:
                    self.retired.append(w)
                self.workers[name], started = self._worker(name), True
        if self.runner is None or self.runner.proc.poll() is not None:
            folder = self.folder / f"runner-{time.monotonic_ns()}"
            folder.mkdir(parents=True)
            self.runner, started = Runner(self.settings(), folder), True
        return started

    def wait_ready(self) -> None:
        wait_for(lambda: all(w.ready() for w in self.workers.values()) and self.runner.ready(),
                 120, "two Celery workers and the runner", every=0.2)

    def _worker(self, name: str) -> Worker:
        """deploy/celery/worker.sh, in a folder of its own (working directory, temporary
        files, DAGSTER_HOME), with the code location's settings, as on another machine."""
        folder = self.folder / f"{name}-{time.monotonic_ns()}"
        (folder / "tmp").mkdir(parents=True)
        shutil.copy(DEPLOY / "celery" / "dagster.yaml", folder / "dagster.yaml")
        shutil.copy(self.executor_yaml, folder / "executor.yaml")
        shutil.copy(DEPLOY / "celery" / "worker.sh", folder / "worker.sh")
        env = {**self.settings(), "DAGSTER_HOME": str(folder), "TMPDIR": str(folder / "tmp"),
               "S3LOGS_EXECUTOR_CONFIG": str(folder / "executor.yaml"),
               "AWS_ENDPOINT_URL_S3": self.d.gate.url(name)}
        log = folder / "worker.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen([str(folder / "worker.sh"), name], env=env, cwd=folder,
                                    stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        return Worker(name, proc, log)

    def run(self, assets: list[str] = ASSETS, parent: str | None = None) -> tuple[int, float]:
        """The daily job for `assets` over FIRST..LAST, or the re-execution of `parent` from
        its failure, on the workers; `finish` waits for it."""
        return self.runner.submit({"tags": {"dagster/asset_partition_range_start": FIRST,
                                            "dagster/asset_partition_range_end": LAST},
                                   "assets": assets, "parent": parent})

    def finish(self, handle: tuple[int, float]) -> tuple[float, dict]:
        """(seconds, outcome) of the run."""
        seconds, outcome = self.runner.finish(handle)
        if "success" not in outcome:
            self.dump()
            raise AssertionError(f"the run did not end in {RUN_TIMEOUT} s, or its runner "
                                 f"died:\n{outcome['log'][-6000:]}")
        return seconds, outcome

    def dump(self) -> None:
        for w in [*self.retired, *self.workers.values()]:
            print(f"--- worker {w.name}\n" + w.log.read_text(errors="replace")[-4000:])

    def stop(self) -> None:
        """Each worker's whole process group (dagster-celery, celery, its pool): a warm
        shutdown first, then whatever is left is killed."""
        workers = list(self.workers.values())
        for w in workers:
            _signal_group(w.proc, signal.SIGTERM)
        if self.runner is not None:
            self.runner.stop()
        for w in workers:
            try:
                w.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
        for w in [*self.retired, *workers]:
            _signal_group(w.proc, signal.SIGKILL)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


@dataclass
class Deployment:
    """What the tests share: the servers, the logs, the fleet, and the lake of the backfill
    run in one process, which every distributed run must write byte for byte."""

    tmp: Path
    env: dict[str, str]
    celery: dict[str, str]
    s3: object
    gate: Gate
    clock: Clock
    fleet: Fleet | None = None
    reference: dict[str, str] | None = None
    one_process: float = 0.0


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, s3_endpoint):
    _servers_or_skip()
    clock = Clock()
    tmp = tmp_path_factory.mktemp("celery")
    with ExitStack() as stack:
        with clock("setup: the logs, PostgreSQL, Redis, the instance's tables"):
            urllib.request.urlopen(urllib.request.Request(f"{s3_endpoint}/moto-api/reset",
                                                          method="POST")).read()
            s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
            for bucket in ("target-logs", "lake"):
                s3.create_bucket(Bucket=bucket)
            upload(s3, "target-logs", generate_objects(CFG))
            _, pg_port = stack.enter_context(postgres())
            broker = stack.enter_context(redis())
            home = tmp / "home"
            home.mkdir()
            shutil.copy(DEPLOY / "celery" / "dagster.yaml", home / "dagster.yaml")
            env = {**os.environ, "DAGSTER_HOME": str(home),
                   "PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONUNBUFFERED": "1",
                   # the instance (deploy/celery/dagster.yaml) of the runs and of every worker
                   "DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(pg_port),
                   "DAGSTER_PG_USER": "postgres", "DAGSTER_PG_PASSWORD": "",
                   "DAGSTER_SHARED_STORAGE": str(tmp / "shared"),
                   # the code location's settings (pipelines.config)
                   "S3LOGS_SOURCES": "s3://target-logs/logs/",
                   "S3LOGS_WAREHOUSE": str(tmp / "warehouse.duckdb"),
                   "S3LOGS_REPORT": str(tmp / "report.html")}
            for name in ("S3LOGS_EXECUTOR", "S3LOGS_EXECUTOR_CONFIG"):
                env.pop(name, None)
            celery = {"S3LOGS_EXECUTOR": "celery", "DAGSTER_CELERY_BROKER_URL": f"{broker}/0",
                      "DAGSTER_CELERY_BACKEND_URL": f"{broker}/1"}
            with pytest.MonkeyPatch.context() as mp:
                for name in [n for n in env if n.startswith("DAGSTER_")]:
                    mp.setenv(name, env[name])
                _check_instance(home, tmp / "shared")  # and create its tables, once
        gate = Gate(s3_endpoint, list(Fleet.NAMES))
        stack.callback(gate.stop)
        d = Deployment(tmp, env, celery, s3, gate, clock)
        # The workers and the runner start (importing Dagster and the code location) while
        # this process writes the reference lake.
        d.fleet = Fleet(d, _quick_visibility(tmp))
        stack.callback(d.fleet.stop)
        d.fleet.start()
        with clock("setup: the one-process run (the in-process executor)"):
            d.one_process, d.reference = one_process_run(env, "single", s3)
        assert any(p.startswith("marts/usage_daily/") for p in d.reference), d.reference
        with clock("setup: the workers and the runner ready, after that"):
            d.fleet.wait_ready()
        yield d
        with clock("teardown: the workers, the runner, the servers stopped"):
            stack.close()
    print("\n" + clock.summary())


@pytest.fixture
def fleet(deployment):
    """The module's fleet, every worker running, and the lake it writes empty."""
    f = deployment.fleet
    if f.start():
        with deployment.clock("a test: a lost worker (or the runner) started again"):
            f.wait_ready()
    keys = [{"Key": o["Key"]} for page in deployment.s3.get_paginator(
        "list_objects_v2").paginate(Bucket="lake", Prefix=LAKE + "/")
        for o in page.get("Contents", [])]
    for i in range(0, len(keys), 1000):
        deployment.s3.delete_objects(Bucket="lake", Delete={"Objects": keys[i:i + 1000]})
    return f


def one_process_run(env: dict[str, str], lake: str, s3) -> tuple[float, dict[str, str]]:
    """The daily job for ASSETS over FIRST..LAST in this process, one step after another
    (the in-process executor), with the code location's settings: (seconds, lake files).
    Which executor runs the steps changes nothing the lake holds."""
    from assets.automation import daily_job
    from assets.definitions import defs
    from assets.resources import default_resources

    started = time.perf_counter()
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in env if n.startswith("S3LOGS_")]:
            mp.setenv(name, env[name])
        mp.setenv("S3LOGS_LAKE", f"s3://lake/{lake}")
        job = dg.Definitions(assets=list(defs.assets), jobs=[daily_job],
                             resources=default_resources()).resolve_job_def("daily_logs")
        result = job.execute_in_process(
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            instance=dg.DagsterInstance.ephemeral(),
            asset_selection=[dg.AssetKey(a) for a in ASSETS],
            tags={"dagster/asset_partition_range_start": FIRST,
                  "dagster/asset_partition_range_end": LAST})
    assert result.success
    return time.perf_counter() - started, lake_files(s3, lake)


def _check_instance(home: Path, shared: Path) -> None:
    """deploy/celery/dagster.yaml loads with Dagster: storage in Postgres, step outputs in
    the shared folder, queued runs, each run's worker a process of the code server.
    Loading it creates the tables (`dagster instance migrate` in a deployment), before
    the workers, which would otherwise race to create them."""
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresRunStorage

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert type(instance.run_launcher).__name__ == "DefaultRunLauncher"
        assert Path(instance.storage_directory()) == shared / "storage"


def lake_files(s3, prefix: str) -> dict[str, str]:
    """Every file under the lake, hashed. The writers' own records name the run of each
    source's day by a random token (v000001-RUN.parquet, "run": "RUN"), so the tokens are
    replaced, in names and contents, by the day they committed; all else is compared as is."""
    raw = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="lake",
                                                             Prefix=prefix + "/"):
        for o in page.get("Contents", []):
            raw[o["Key"][len(prefix) + 1:]] = s3.get_object(Bucket="lake",
                                                            Key=o["Key"])["Body"].read()
    tokens = {}
    for path, body in raw.items():
        if path.startswith("_manifests/"):
            unit = path.rsplit("/", 1)[0].removeprefix("_manifests/")
            tokens[json.loads(body)["run"]] = f"RUN({unit})"
    assert tokens, f"no committed day under {prefix}: {sorted(raw)[:20]}"
    pattern = re.compile("|".join(map(re.escape, tokens)))

    def named(text: str) -> str:
        return pattern.sub(lambda m: tokens[m.group(0)], text)

    return {named(path): hashlib.sha256(named(body.decode()).encode() if path.endswith(".json")
                                        else body).hexdigest()
            for path, body in raw.items()}


def differences(got: dict, want: dict) -> list[str]:
    return sorted(p for p in set(got) | set(want) if got.get(p) != want.get(p))


def test_a_backfill_on_two_celery_workers_writes_the_lake_one_process_writes(
        deployment, fleet):
    with deployment.clock("test 1: the backfill on the two workers"):
        seconds, spread = fleet.finish(fleet.run(ASSETS))
    assert spread["success"], spread["log"][-6000:]
    ran_on = spread["workers"]
    assert set(ran_on.values()) == {"w1", "w2"}, ran_on  # both took steps
    got = lake_files(deployment.s3, LAKE)
    assert got == deployment.reference, differences(got, deployment.reference)[:20]
    print(f"\n{CFG.days}-day backfill of {', '.join(ASSETS)} ({len(ran_on)} steps, "
          f"{len(got)} lake files): 2 Celery workers {seconds:.1f} s, one process "
          f"(the in-process executor) {deployment.one_process:.1f} s")


class Gate:
    """An S3 endpoint per worker in front of the local one. Requests pass through, except,
    once armed, the first PUT of a visible lake file (a rebuild step writing its folder),
    which is held unanswered: that step is then certainly mid-way (its inputs read, its
    output not written) whenever the test kills its worker."""

    def __init__(self, target: str, names: list[str]) -> None:
        self.target = urllib.parse.urlsplit(target).netloc
        self.lock, self.caught, self.release = threading.Lock(), threading.Event(), \
            threading.Event()
        self.armed, self.held = False, None
        self.servers = {name: self._serve(name) for name in names}

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.servers[name].server_address[1]}"

    def arm(self) -> None:
        with self.lock:
            self.armed, self.held = True, None
            self.caught.clear()

    def wait(self, timeout: float) -> tuple[str, str]:
        """(worker, path) of the held request."""
        assert self.caught.wait(timeout), f"no rebuild step wrote its folder in {timeout} s"
        return self.held

    def stop(self) -> None:
        self.release.set()
        for server in self.servers.values():
            server.shutdown()
            server.server_close()

    def _serve(self, name: str) -> ThreadingHTTPServer:
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The headers and the body go out in two writes: without TCP_NODELAY, every
            # answer waits for the client's delayed ACK (40 ms), seconds in a run.
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = urllib.parse.unquote(self.path)
                with gate.lock:
                    hold = gate.armed and self.command == "PUT" and VISIBLE_PUT.match(path)
                    if hold:
                        gate.armed, gate.held = False, (name, path)
                        gate.caught.set()
                if hold:  # never answered: the worker is killed meanwhile
                    gate.release.wait()
                    self.close_connection = True
                    return
                conn = http.client.HTTPConnection(gate.target, timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "transfer-encoding")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                        self.send_header(k, v)
                length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


# The deployment's executor settings, for the workers and the runs of both tests, with a
# visibility timeout of a few seconds (deploy: two hours, above the longest step), so that
# a lost worker's step comes back within the test. The steps here take 0.3 to 4 s on two
# busy cores (load average 2 to 5), so none is handed out twice while it runs; a machine
# that stalls for longer than this would see a step run twice. It is most of what the
# re-execution waits.
VISIBILITY_TIMEOUT = 8


def _quick_visibility(folder: Path) -> Path:
    document = yaml.safe_load((DEPLOY / "celery" / "executor.yaml").read_text())
    options = document["execution"]["config"]["config_source"]["broker_transport_options"]
    options.update(visibility_timeout=VISIBILITY_TIMEOUT, unacked_restore_interval=1,
                   unacked_mutex_expire=5)  # a worker killed while sweeping frees it soon
    path = folder / "executor.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_worker_killed_mid_step_fails_its_run_and_the_reexecution_completes_the_lake(
        deployment, fleet):
    gate, workers, clock = deployment.gate, fleet.workers, deployment.clock
    started = time.perf_counter()

    # 1. The process running a rebuild step is killed (SIGKILL, as the OOM killer does)
    # while its worker lives on: the step fails at once, not requeued, and so its run.
    with clock("test 2: the run, until a rebuild step is caught"):
        gate.arm()
        run = fleet.run(INGESTION)
        name, path = gate.wait(120)
    pool = workers[name].pool()
    assert len(pool) == 1, pool
    os.kill(pool[0], signal.SIGKILL)
    with clock("test 2: its step process killed, the run failed"):
        _, first = fleet.finish(run)
    assert not first["success"], first["log"][-6000:]
    assert any("WorkerLostError" in e for e in first["errors"]), first["errors"]
    print(f"\nrun 1: {name}'s step process killed while writing {path}: the run "
          f"failed ({len(first['workers'])} steps done)")

    # 2. Re-executed from its failure; the worker that takes the killed step again is
    # lost outright (its whole process group, as when a machine goes): the step was
    # never acknowledged, so Redis hands it to the other worker after the visibility
    # timeout, and the re-execution completes there.
    with clock("test 2: the re-execution, until the step is caught again"):
        gate.arm()
        run = fleet.run(parent=first["run_id"])
        lost, path = gate.wait(120)
    _signal_group(workers[lost].proc, signal.SIGKILL)
    with clock("test 2: its worker lost, the re-execution done on the other"):
        _, second = fleet.finish(run)
    assert second["success"], second["log"][-6000:]
    survivor = ({"w1", "w2"} - {lost}).pop()
    assert set(second["workers"].values()) == {survivor}, second["workers"]
    print(f"re-execution: {lost} lost while writing {path}; {survivor} ran all "
          f"{len(second['workers'])} steps; {time.perf_counter() - started:.1f} s in all")
    got = lake_files(deployment.s3, LAKE)
    want = {p: h for p, h in deployment.reference.items() if not p.startswith("marts/")}
    assert got == want, differences(got, want)[:20]


def test_one_setting_chooses_the_executor_and_its_settings_file(tmp_path, monkeypatch):
    assert settings({}).executor == "multiprocess"
    assert executor(settings({})) is MULTIPROCESS
    with pytest.raises(ConfigError, match="use multiprocess, celery, k8s"):
        settings({"S3LOGS_EXECUTOR": "dask"})
    with pytest.raises(ConfigError, match="S3LOGS_EXECUTOR_CONFIG"):
        settings({"S3LOGS_EXECUTOR": "celery"})
    with pytest.raises(ConfigError, match="S3LOGS_EXECUTOR is not"):
        settings({"S3LOGS_EXECUTOR_CONFIG": "deploy/celery/executor.yaml"})
    (tmp_path / "flat.yaml").write_text("broker: redis://127.0.0.1:6379/0\n")
    with pytest.raises(ConfigError, match="no `execution: config:` block"):
        executor(settings({"S3LOGS_EXECUTOR": "celery",
                           "S3LOGS_EXECUTOR_CONFIG": str(tmp_path / "flat.yaml")}))

    # deploy/celery/executor.yaml as the code location reads it, and as the workers do
    from dagster_celery import celery_executor
    from dagster_celery.cli import get_validated_config

    path = str(DEPLOY / "celery" / "executor.yaml")
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "redis://broker:6379/0")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://broker:6379/1")
    checked = validate_config(celery_executor.config_schema.config_type, executor_config(path))
    assert checked.success, checked.errors
    assert get_validated_config(path)["broker"] == "redis://broker:6379/0"
    chosen = executor(settings({"S3LOGS_EXECUTOR": "celery", "S3LOGS_EXECUTOR_CONFIG": path}))
    assert chosen.name == "celery"

    @dg.asset
    def one() -> None: ...

    job = dg.Definitions(assets=[one], executor=chosen).resolve_implicit_global_asset_job_def()
    assert job.executor_def is chosen
    dg.validate_run_config(job)  # the configured settings satisfy the executor's schema


def test_the_code_location_loads_without_the_distributed_packages():
    """dagster-celery and dagster-k8s are imported only when chosen: without them the code
    location loads, and choosing one says what to install."""
    code = """
import sys
sys.modules.update(dagster_celery=None, celery=None, dagster_k8s=None)
import assets.definitions as d
from pipelines.config import ConfigError, settings
assert d.defs.executor is d.MULTIPROCESS
for name in ("celery", "k8s"):
    try:
        d.executor(settings({"S3LOGS_EXECUTOR": name, "S3LOGS_EXECUTOR_CONFIG": sys.argv[1]}))
    except ConfigError as e:
        print(e)
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("S3LOGS_EXECUTOR")}
    out = subprocess.run([sys.executable, "-c", code, str(DEPLOY / "k8s-executor.yaml")],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    said = out.stdout.splitlines()
    assert len(said) == 2, out.stdout
    assert "pip install 's3logs[distributed]'" in said[0] and "dagster-k8s" in said[1], said


# What dagster-k8s 0.29 accepts for the keys deploy/ sets, transcribed from its source
# (dagster_k8s/job.py: DagsterK8sJobConfig.config_type_run_launcher and config_type_job;
# dagster_k8s/executor.py: _K8S_EXECUTOR_CONFIG_SCHEMA), because dagster-k8s is not a
# dependency here: the schemas are strict, so a misspelt or unknown key fails, but a key
# dagster-k8s renamed since would pass unnoticed. With dagster-k8s installed (the image,
# deploy/Dockerfile), the test uses its own schemas instead.
_K8S_RAW = dg.Shape({k: dg.Field(dg.Permissive(), is_required=False) for k in (
    "container_config", "pod_template_spec_metadata", "pod_spec_config", "job_config",
    "job_metadata", "job_spec_config")})
_K8S_CONTAINER = {
    "job_image": dg.Field(dg.Noneable(dg.StringSource), is_required=False),
    "image_pull_policy": dg.Field(dg.Noneable(dg.StringSource), is_required=False),
    "image_pull_secrets": dg.Field(dg.Noneable([{"name": dg.StringSource}]),
                                   is_required=False),
    "service_account_name": dg.Field(dg.Noneable(dg.StringSource), is_required=False),
    "env_config_maps": dg.Field(dg.Noneable([dg.StringSource]), is_required=False),
    "env_secrets": dg.Field(dg.Noneable([dg.StringSource]), is_required=False),
    "env_vars": dg.Field(dg.Noneable([str]), is_required=False),
    "volume_mounts": dg.Field([dg.Permissive({
        "name": dg.StringSource,
        "mount_path": dg.Field(dg.StringSource, is_required=False),
        "read_only": dg.Field(dg.BoolSource, is_required=False),
        "sub_path": dg.Field(dg.StringSource, is_required=False)})], is_required=False),
    "volumes": dg.Field([dg.Permissive({"name": str})], is_required=False),
    "labels": dg.Field(dict, is_required=False),
    "resources": dg.Field(dg.Noneable({"limits": dg.Field(dict, is_required=False),
                                       "requests": dg.Field(dict, is_required=False)}),
                          is_required=False),
}
K8S_RUN_LAUNCHER = dg.Shape({
    **_K8S_CONTAINER,
    "instance_config_map": dg.Field(dg.StringSource, is_required=True),
    "postgres_password_secret": dg.Field(dg.StringSource, is_required=False),
    "dagster_home": dg.Field(dg.StringSource, is_required=False),
    "load_incluster_config": dg.Field(bool, is_required=False),
    "job_namespace": dg.Field(dg.StringSource, is_required=False),
    "run_k8s_config": dg.Field(_K8S_RAW, is_required=False),
})
K8S_EXECUTOR = dg.Shape({
    **_K8S_CONTAINER,
    "job_namespace": dg.Field(dg.StringSource, is_required=False),
    "retries": get_retries_config(),
    "max_concurrent": dg.Field(dg.IntSource, is_required=False),
    "step_k8s_config": dg.Field(_K8S_RAW, is_required=False),
    "per_step_k8s_config": dg.Field(dg.Map(str, _K8S_RAW), is_required=False),
})


def _k8s_schemas():
    try:
        from dagster_k8s import K8sRunLauncher, k8s_job_executor
    except ImportError:
        return K8S_RUN_LAUNCHER, K8S_EXECUTOR
    return K8sRunLauncher.config_type(), k8s_job_executor.config_schema.config_type


def test_the_kubernetes_settings_are_what_dagster_k8s_documents(tmp_path):
    """deploy/dagster-k8s.yaml is a valid Dagster instance whose run launcher settings
    dagster-k8s accepts; deploy/k8s-executor.yaml is run config its executor accepts.
    Nothing runs on Kubernetes here (no cluster): the shapes are what is checked."""
    from dagster._core.instance.config import dagster_instance_config

    launcher_schema, executor_schema = _k8s_schemas()
    shutil.copy(DEPLOY / "dagster-k8s.yaml", tmp_path / "dagster.yaml")
    instance, _ = dagster_instance_config(str(tmp_path))
    launcher = instance["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    checked = validate_config(launcher_schema, launcher["config"])
    assert checked.success, [e.message for e in checked.errors]
    # step outputs go through a folder every step's pod mounts (the run launcher's volume,
    # which the executor's pods inherit)
    shared = instance["local_artifact_storage"]["config"]["base_dir"]
    assert any(m["mount_path"] == shared for m in launcher["config"]["volume_mounts"])

    config = executor_config(str(DEPLOY / "k8s-executor.yaml"))
    checked = validate_config(executor_schema, config)
    assert checked.success, [e.message for e in checked.errors]
    # the schema is strict: what dagster-k8s would refuse, this refuses too
    assert not validate_config(executor_schema, {**config, "namespace": "s3logs"}).success
    assert not validate_config(launcher_schema, {
        k: v for k, v in launcher["config"].items() if k != "instance_config_map"}).success
