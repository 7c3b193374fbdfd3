"""Concurrent ingestions, killed at random, against one clean sequential run.

Log objects of several days (late ones feeding earlier partitions, some delivered twice)
arrive over rounds; in each round several `s3logs ingest` processes start a moment apart
over overlapping ranges of days, and some are killed with SIGKILL at a random moment.
After the last round one more run catches up. The lake must then equal, byte for byte,
what one run over everything writes. `make stress` runs many rounds;
`tests/test_concurrency.py` runs a few in `make test`.

    python -m tests.stress --rounds 20 --processes 4 [--lake s3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pipelines.lake.store import Lake
from pipelines.synthetic.synth import SynthConfig, generate_objects

S3LOGS = str(Path(sys.executable).parent / "s3logs")
CFG = SynthConfig(days=4, records_per_day=6000, records_per_object=300, late_fraction=0.3,
                  duplicate_fraction=0.05, gzip_fraction=0.1, seed=23)
DAYS = [CFG.start + timedelta(days=i) for i in range(CFG.days + 3)]


@dataclass
class Outcome:
    rounds: int
    runs: int
    killed: int
    identical: bool
    differences: list[str]


def deliveries(rounds: int) -> list[list[tuple[str, bytes]]]:
    """The generated objects, in the order S3 might deliver them, split over rounds."""
    objects = list(generate_objects(CFG))
    random.Random(CFG.seed).shuffle(objects)
    size = -(-len(objects) // rounds)
    return [objects[i:i + size] for i in range(0, len(objects), size)]


def ingest_cmd(source: str, lake: str, first: date, last: date) -> list[str]:
    return [S3LOGS, "ingest", "--source", source, "--lake", lake, "--layout", "simple",
            "--days", f"{first}..{last}", "--quiet"]


def run(folder: Path, lake_url: str, rounds: int, processes: int, seed: int,
        env: dict | None = None) -> Outcome:
    """Rounds of concurrent, sometimes killed, runs from the local folder `folder/logs` into
    `lake_url` (a folder, or s3:// with the endpoint in `env`), compared at the end."""
    env = {**os.environ, **(env or {})}
    rng = random.Random(seed)
    source = str(folder / "logs") + "/"
    runs = killed = 0
    for batch in deliveries(rounds):
        _deliver(folder, batch)
        procs = []
        for _ in range(processes):
            a = rng.randrange(len(DAYS))
            b = min(len(DAYS) - 1, a + rng.randrange(3))
            procs.append(subprocess.Popen(ingest_cmd(source, lake_url, DAYS[a], DAYS[b]),
                                          env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
            time.sleep(rng.uniform(0, 0.15))
        for p in procs:
            if rng.random() < 0.4:
                time.sleep(rng.uniform(0, 1.5))
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    killed += 1
        for p in procs:
            p.wait(timeout=600)
        runs += len(procs)
    final = subprocess.run(ingest_cmd(source, lake_url, DAYS[0], DAYS[-1]), env=env,
                           capture_output=True, text=True, timeout=900)
    if final.returncode not in (0, 1):
        raise RuntimeError(final.stderr[-2000:])
    reference = folder / "reference"
    subprocess.run(ingest_cmd(source, str(reference), DAYS[0], DAYS[-1]), env=env,
                   check=False, capture_output=True, timeout=900)
    lake_kw = {"endpoint": env.get("AWS_ENDPOINT_URL_S3")} if lake_url.startswith("s3://") \
        else {}
    got, want = Lake(lake_url, **lake_kw).snapshot(), Lake(str(reference)).snapshot()
    differences = sorted(p for p in set(got) | set(want) if got.get(p) != want.get(p))
    return Outcome(rounds, runs + 1, killed, not differences, differences[:10])


def _deliver(folder: Path, batch: list[tuple[str, bytes]]) -> None:
    for key, body in batch:
        path = folder / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name("." + path.name)
        tmp.write_bytes(body)
        tmp.replace(path)  # delivered whole, as S3 does


@contextlib.contextmanager
def _s3_lake():
    """A moto S3 server on 127.0.0.1 with an empty lake bucket, for this process only."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL_S3": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "stress",
           "AWS_SECRET_ACCESS_KEY": "stress", "AWS_DEFAULT_REGION": "us-east-1"}
    boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name="us-east-1",
                 aws_access_key_id="stress", aws_secret_access_key="stress").create_bucket(
        Bucket="stress-lake")
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # this process reads the lake too, to compare it
    try:
        yield "s3://stress-lake/s3logs", env
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=int(os.environ.get("STRESS_ROUNDS", "20")))
    p.add_argument("--processes", type=int, default=4)
    p.add_argument("--repeats", type=int, default=int(os.environ.get("STRESS_REPEATS", "3")))
    p.add_argument("--seed", type=int, default=int(time.time()))
    p.add_argument("--lake", choices=["local", "s3"], default="local",
                   help="s3: the lake in a bucket of a local S3 server (moto)")
    args = p.parse_args()
    failures = 0
    for i in range(args.repeats):
        folder = Path(tempfile.mkdtemp(prefix="s3logs-stress-"))
        try:
            if args.lake == "s3":
                with _s3_lake() as (url, env):
                    out = run(folder, url, args.rounds, args.processes, args.seed + i, env)
            else:
                out = run(folder, str(folder / "lake"), args.rounds, args.processes,
                          args.seed + i)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        failures += not out.identical
        print(f"seed {args.seed + i}: {out.rounds} rounds, {out.runs} runs, {out.killed} "
              f"killed: {'identical to one sequential run' if out.identical else 'DIFFERENT'}"
              + ("" if out.identical else f" {out.differences}"), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

