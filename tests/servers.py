"""Servers a deployment runs, started for real on 127.0.0.1 for one test: PostgreSQL and Redis
(Debian's packages), the Dagster processes (gRPC code server, webserver, daemon) and an alert
webhook."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(
        f"*/bin/{name}"), reverse=True)), None)
    if not found:
        raise RuntimeError(f"{name} not found: install Debian's postgresql (make test does)")
    return str(found)


def postgres_available() -> bool:
    try:
        _pg_bin("initdb")
        return True
    except RuntimeError:
        return False


@contextmanager
def postgres():
    """A PostgreSQL server of its own on 127.0.0.1 (trust authentication, a database
    named dagster); yields (host, port). As root, it runs as the `postgres` user."""
    folder = Path(tempfile.mkdtemp(prefix="s3logs-pg-", dir="/tmp"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port, data = free_port(), folder / "data"
    subprocess.run([*as_user, _pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U",
                    "postgres", "--no-instructions"], check=True, capture_output=True)
    subprocess.run([*as_user, _pg_bin("pg_ctl"), "-D", str(data), "-w", "-l",
                    str(folder / "log"), "-o", f"-p {port} -c listen_addresses=127.0.0.1 "
                    f"-k {folder}", "start"], check=True, capture_output=True)
    try:
        subprocess.run([*as_user, _pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port),
                        "-U", "postgres", "dagster"], check=True, capture_output=True)
        yield "127.0.0.1", port
    finally:
        subprocess.run([*as_user, _pg_bin("pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


@contextmanager
def redis():
    """A Redis server of its own on 127.0.0.1 (nothing saved to disk), for a Celery broker;
    yields its URL, redis://127.0.0.1:PORT."""
    server = shutil.which("redis-server")
    if not server:
        raise RuntimeError("redis-server not found: install Debian's redis-server (make test "
                           "does)")
    folder = Path(tempfile.mkdtemp(prefix="s3logs-redis-", dir="/tmp"))
    port = free_port()
    proc = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", str(folder), "--logfile",
                             str(folder / "log")], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _redis_ping(port) or proc.poll() is not None, 20, "redis-server",
                 every=0.1)
        if proc.poll() is not None:
            raise RuntimeError("redis-server did not start: " + (folder / "log").read_text())
        yield f"redis://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def instance_yaml(pg_port: int) -> str:
    """The instance settings of a production deployment: run and event storage in
    PostgreSQL, queued runs launched by the daemon."""
    return f"""storage:
  postgres:
    postgres_db:
      hostname: 127.0.0.1
      port: {pg_port}
      username: postgres
      password: ""
      db_name: dagster
      scheme: postgresql+psycopg2   # SQLAlchemy 2.1 would pick psycopg 3 for postgresql://
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 2
run_launcher:
  module: dagster
  class: DefaultRunLauncher
telemetry:
  enabled: false
"""


@contextmanager
def processes(commands: dict[str, list[str]], env: dict, logs: Path):
    """Start long-running processes, each logging to a file; stop them all at the end."""
    started = {}
    try:
        for name, cmd in commands.items():
            out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed below
            started[name] = (subprocess.Popen(cmd, env=env, stdout=out, stderr=out,
                                              cwd=logs), out)
        yield started
    finally:
        for proc, _ in started.values():
            proc.terminate()
        for proc, out in started.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            out.close()


def wait_for(condition, timeout: float, what: str, every: float = 0.5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    req = urllib.request.Request(f"{url}/graphql", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        answer = json.loads(r.read())
    if answer.get("errors"):
        raise RuntimeError(answer["errors"])
    return answer["data"]


class Webhook:
    """A local alert webhook that dedupes on Idempotency-Key, as docs/security/alerts.md asks
    of one. It answers `status` (200 unless a test sets it); while `mode` is "hang" it reads a
    post and answers nothing until the test ends, while "reset" it reads a post and drops
    the connection."""

    def __init__(self) -> None:
        self.status, self.mode = 200, "answer"
        self.bodies: list[dict] = []                # every body posted
        self.attempts: list[tuple[str, str]] = []  # (header key, body key) of every post
        self.delivered: dict[str, dict] = {}      # what it kept (answered 2xx), by key
        self.release = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers.get("Idempotency-Key", "")
                hook.bodies.append(body)
                hook.attempts.append((key, body.get("idempotency_key", "")))
                if hook.mode == "hang":
                    hook.release.wait(60)
                if hook.mode in ("hang", "reset"):
                    self.close_connection = True
                    return
                if 200 <= hook.status < 300:
                    hook.delivered.setdefault(key, body)
                self.send_response(hook.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
