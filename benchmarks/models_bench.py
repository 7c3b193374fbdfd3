"""SQL models on the lake versus the same questions over the raw text logs (a regex in
DuckDB, what querying the logs in place costs), on a lake built from ~1 GiB of generated
logs; and the lake's size as a fraction of the raw logs."""

from __future__ import annotations

import os
import shutil
import time
from datetime import date

import duckdb

from benchmarks.baselines import ATHENA_REGEX
from benchmarks.common import BENCH_DIR, print_table, size_from_env
from pipelines.ingestion.ingest import ingest
from pipelines.ingestion.sources import LogSource
from pipelines.lake.store import Lake
from pipelines.sql import models
from pipelines.sql.session import session
from pipelines.synthetic.synth import write_big_file

DAY, MONTH_START = date(2026, 11, 5), date(2026, 11, 1)
FIELDS = ["bucket_owner", "bucket", "time", "remote_ip", "requester", "request_id",
          "operation", "key", "request_uri", "http_status", "error_code", "bytes_sent",
          "object_size", "total_time", "turnaround_time"]
RAW_LINES = ("(SELECT regexp_extract(line, $pattern, $names) AS f FROM read_csv($path, "
             "columns = {'line': 'VARCHAR'}, delim = '\\x01', quote = '', escape = '', "
             "header = false, auto_detect = false, ignore_errors = true))")
RAW_DAY_USAGE = (
    "SELECT f.bucket, f.operation, count(*) AS requests, "
    "sum(try_cast(f.bytes_sent AS BIGINT)) AS bytes_sent, "
    "quantile_cont(try_cast(f.total_time AS BIGINT), 0.95) AS p95 "
    f"FROM {RAW_LINES} WHERE f.time LIKE $day GROUP BY ALL")
RAW_MTD_BILLING = (
    "SELECT f.bucket, count(*) FILTER (WHERE split_part(f.operation, '.', 2) IN "
    "('PUT', 'POST', 'COPY') OR f.operation = 'REST.GET.BUCKET') AS tier1, "
    "count(*) FILTER (WHERE split_part(f.operation, '.', 2) = 'GET') AS tier2, "
    "sum(try_cast(f.bytes_sent AS BIGINT)) AS bytes_sent "
    f"FROM {RAW_LINES} WHERE f.time LIKE $month GROUP BY ALL")


def _timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> list[dict]:
    size = size_from_env("S3LOGS_BENCH_PARSE_SIZE", "1GiB")
    BENCH_DIR.mkdir(exist_ok=True)
    raw = BENCH_DIR / f"parse-{size >> 20}MiB.log"
    if not raw.exists():
        write_big_file(raw, size, seed=1)
    folder, lake_dir = BENCH_DIR / "models" / "logs", BENCH_DIR / "models" / "lake"
    shutil.rmtree(BENCH_DIR / "models", ignore_errors=True)
    folder.mkdir(parents=True)
    os.link(raw, folder / "2026-11-01-00-00-00-0000000000BE4C11")
    lake = Lake(str(lake_dir))
    print("building the lake ...", flush=True)
    ingest_s, _ = _timed(lambda: ingest([LogSource(str(folder), layout="simple")], lake,
                                        [MONTH_START], progress=False))
    lake_bytes = sum(os.path.getsize(f) for f in lake.files())
    con = duckdb.connect()
    params = {"pattern": ATHENA_REGEX.pattern.decode(), "names": FIELDS, "path": str(raw)}
    rows = []
    print("timing ...", flush=True)
    ours_day, _ = _timed(lambda: models.run_models(lake, DAY, DAY))
    raw_day, _ = _timed(lambda: con.execute(RAW_DAY_USAGE, {
        **params, "day": f"{DAY:%d/%b/%Y}:%"}).fetchall())
    con = session(lake)
    ours_mtd, _ = _timed(lambda: models.query(con, "billing_daily", MONTH_START, DAY)
                         .group_by("bucket").aggregate([("request_cost_usd", "sum"),
                                                        ("transfer_out_cost_usd", "sum")]))
    raw_mtd, _ = _timed(lambda: con.execute(RAW_MTD_BILLING, {
        **params, "month": f"%/{DAY:%b/%Y}:%"}).fetchall())
    rows.append({"question": f"a day of all {len(models.model_names())} models (written)",
                 "lake_s": ours_day, "raw_s": raw_day, "x_faster": raw_day / ours_day})
    rows.append({"question": "month-to-date billing by bucket",
                 "lake_s": ours_mtd, "raw_s": raw_mtd, "x_faster": raw_mtd / ours_mtd})
    print_table(f"Models on the lake vs a regex over {raw.stat().st_size / 2**20:,.0f} MiB of "
                f"raw logs (lake built in {ingest_s:.1f} s)", rows,
                [("question", "question"), ("lake_s", "lake (s)"), ("raw_s", "raw text (s)"),
                 ("x_faster", "x faster")])
    print(f"lake size: {lake_bytes / 2**20:,.1f} MiB = "
          f"{100 * lake_bytes / raw.stat().st_size:.1f}% of the raw logs")
    return rows


if __name__ == "__main__":
    main()
