"""Backfill scaling: 30 days x 3 sources ingested by 1 and by 2 workers, from a local
folder and from a local S3 server (moto, in its own process), as Dagster runs a backfill:
one step per source and day (`ingest_unit`), as many at once as there are workers, then
the partitions they changed rebuilt in groups of about the same size, as many groups at
once as there are workers (`folder_groups`, `rebuild_folders`), and a last step that
finishes the run (`finish_rebuild`). The lakes written with 1 and with 2 workers must be
byte-identical.

    python -m benchmarks backfill        (S3LOGS_BENCH_BACKFILL_SCALE=1 for the full size)
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from datetime import date, timedelta

import boto3

from benchmarks.common import BENCH_DIR, print_table
from benchmarks.ingest_bench import start_moto
from pipelines.ingestion.ingest import (
    FolderGroup,
    finish_rebuild,
    folder_groups,
    ingest_unit,
    rebuild_folders,
)
from pipelines.ingestion.sources import LogSource
from pipelines.ingestion.units import migrate
from pipelines.lake.store import Lake
from pipelines.memory import bound_allocator
from pipelines.synthetic.synth import SynthConfig, generate_objects

DAYS, SOURCES = 30, 3
CONFIG = SynthConfig(start=date(2026, 10, 1), days=DAYS, records_per_day=6000,
                     records_per_object=200, late_fraction=0.05, duplicate_fraction=0.01)


def sources_config(scale: float) -> list[SynthConfig]:
    return [replace(CONFIG, buckets=(f"bucket-{i}-a", f"bucket-{i}-b"), prefix=f"src{i}/",
                    records_per_day=int(CONFIG.records_per_day * scale), seed=100 + i)
            for i in range(SOURCES)]


def _unit(args: tuple) -> object:
    url, lake, day, endpoint = args
    return ingest_unit(LogSource(url, layout="simple", endpoint=endpoint),
                       Lake(lake, endpoint=endpoint), day, progress=False)


def _folders(args: tuple) -> object:
    lake, group, endpoint = args
    return rebuild_folders(Lake(lake, endpoint=endpoint), group)


def backfill(urls: list[str], lake: str, workers: int, endpoint: str | None) -> dict:
    """Every (source, day) on `workers` processes, then the rebuilds in `workers` groups
    on as many processes, then the run's last step: what Dagster runs."""
    started = time.perf_counter()
    days = [CONFIG.start + timedelta(days=i) for i in range(DAYS + 3)]
    units = [(url, lake, day, endpoint) for day in days for url in urls]
    with ProcessPoolExecutor(workers, initializer=bound_allocator) as pool:
        outcomes = list(pool.map(_unit, units))
    ingested = time.perf_counter()
    lk = Lake(lake, endpoint=endpoint)
    migrate(lk)
    groups: list[FolderGroup] = folder_groups(lk, outcomes, workers)
    with ProcessPoolExecutor(workers, initializer=bound_allocator) as pool:
        folders = list(pool.map(_folders, [(lake, g, endpoint) for g in groups]))
    report = finish_rebuild(lk, outcomes, folders, started)
    seconds = time.perf_counter() - started
    rows = report.total("rows_parsed")
    return {"workers": workers, "objects": report.total("objects_ingested"),
            "rows": rows, "mb": report.total("bytes_fetched") / 1e6, "seconds": seconds,
            "units_s": ingested - started, "rebuild_s": seconds - (ingested - started),
            "objects_per_s": report.total("objects_ingested") / seconds,
            "rows_per_s": rows / seconds,
            "child_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def main() -> list[dict]:
    scale = float(os.environ.get("S3LOGS_BENCH_BACKFILL_SCALE", "1"))
    folder = BENCH_DIR / "backfill"
    shutil.rmtree(folder, ignore_errors=True)
    logs = folder / "logs"
    objects = [o for cfg in sources_config(scale) for o in generate_objects(cfg)]
    for key, body in objects:
        (logs / key).parent.mkdir(parents=True, exist_ok=True)
        (logs / key).write_bytes(body)
    print(f"{len(objects):,} log objects ({sum(len(b) for _, b in objects) / 1e6:,.0f} MB), "
          f"{DAYS} days x {SOURCES} sources", flush=True)
    rows = []
    local_urls = [str(logs / f"src{i}") + "/" for i in range(SOURCES)]
    for workers in (1, 2):
        print(f"local folder, {workers} worker(s) ...", flush=True)
        r = backfill(local_urls, str(folder / f"lake-local-{workers}"), workers, None)
        rows.append({"source": "local folder", **r})
    same_local = Lake(str(folder / "lake-local-1")).snapshot() == \
        Lake(str(folder / "lake-local-2")).snapshot()
    server, endpoint = start_moto()
    try:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="bench-logs")
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda kb: s3.put_object(Bucket="bench-logs", Key=kb[0],
                                                   Body=kb[1]), objects))
        s3_urls = [f"s3://bench-logs/src{i}/" for i in range(SOURCES)]
        for workers in (1, 2):
            print(f"S3 (moto), {workers} worker(s) ...", flush=True)
            r = backfill(s3_urls, str(folder / f"lake-s3-{workers}"), workers, endpoint)
            rows.append({"source": "S3 (moto)", **r})
    finally:
        server.terminate()
        server.wait()
    same_s3 = Lake(str(folder / "lake-s3-1")).snapshot() == \
        Lake(str(folder / "lake-s3-2")).snapshot()
    for r in rows:
        first = next(x for x in rows if x["source"] == r["source"] and x["workers"] == 1)
        r["speedup"] = first["seconds"] / r["seconds"]
    print_table(f"Backfill of {DAYS} days x {SOURCES} sources (one step per source and day, "
                "then the rebuilds in groups)", rows,
                [("source", "source"), ("workers", "workers"), ("objects", "objects"),
                 ("rows", "rows"), ("objects_per_s", "objects/s"), ("rows_per_s", "rows/s"),
                 ("units_s", "units s"), ("rebuild_s", "rebuild s"), ("seconds", "total s"),
                 ("speedup", "x 1 worker")])
    print(f"\nlakes written by 1 and 2 workers byte-identical: local {same_local}, "
          f"S3 {same_s3}")
    return rows


if __name__ == "__main__":
    main()
