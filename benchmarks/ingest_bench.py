"""Ingestion from S3: ~20,000 small generated log objects (~200 MB) on a local S3 endpoint
(moto's server, in its own process) into the lake, against a naive baseline, then a
second run of the same days with nothing new."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import boto3

from benchmarks.common import BENCH_DIR, print_table, run_isolated
from benchmarks.ingest_methods import PREFIX, SOURCE_BUCKET
from pipelines.synthetic.synth import SynthConfig, generate_objects

CONFIG = SynthConfig(days=7, records_per_day=30_000, records_per_object=18, late_fraction=0,
                     duplicate_fraction=0, prefix=PREFIX, seed=11)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H",
                               "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            return server, endpoint
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("moto_server did not start")


def main() -> list[dict]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    scale = float(os.environ.get("S3LOGS_BENCH_INGEST_SCALE", "1"))
    cfg = replace(CONFIG, records_per_day=int(CONFIG.records_per_day * scale))
    days = [cfg.start + timedelta(days=i) for i in range(cfg.days + 1)]
    server, endpoint = start_moto()
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=SOURCE_BUCKET)
        objects = list(generate_objects(cfg))
        print(f"uploading {len(objects):,} objects "
              f"({sum(len(b) for _, b in objects) / 1e6:,.0f} MB) to {endpoint} ...", flush=True)
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda kb: s3.put_object(Bucket=SOURCE_BUCKET, Key=kb[0],
                                                   Body=kb[1]), objects))
        out = BENCH_DIR / "ingest"
        shutil.rmtree(out, ignore_errors=True)
        rows = []
        for label, method, target in (("naive baseline", "naive", out / "naive"),
                                      ("s3logs, first run", "ours", out / "lake"),
                                      ("s3logs, nothing new", "ours", out / "lake"),
                                      ("endpoint ceiling (GETs only)", "fetch_only", out)):
            print(f"running {label} ...", flush=True)
            r = run_isolated("benchmarks.ingest_methods", method, endpoint, str(target),
                             str(days[0]), str(len(days)))
            r["method"] = label
            r["objects_per_s"] = r["objects"] / r["seconds"]
            r["mb_per_s"] = r["bytes"] / 1e6 / r["seconds"]
            rows.append(r)
        base, first, second, ceiling = rows
        first["pct_of_ceiling"] = 100 * first["objects_per_s"] / ceiling["objects_per_s"]
        first["x_baseline"] = first["objects_per_s"] / base["objects_per_s"]
        base["x_baseline"] = 1.0
        second["pct_of_first"] = 100 * second["seconds"] / first["seconds"]
        print_table(f"Ingesting {len(objects):,} log objects from a local S3 endpoint",
                    rows, [("method", "method"), ("objects", "objects"),
                           ("objects_per_s", "objects/s"), ("mb_per_s", "MB/s"),
                           ("x_baseline", "x naive"), ("LIST", "LIST"), ("GET", "GET"),
                           ("seconds", "seconds"), ("pct_of_first", "% of 1st run"),
                           ("pct_of_ceiling", "% of ceiling"),
                           ("peak_rss_mib", "peak RSS MiB")])
        return rows
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
