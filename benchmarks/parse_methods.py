"""One parsing method over one file, in its own process: `python -m benchmarks.parse_methods
METHOD FILE` prints a JSON line with rows, lost lines, seconds and peak RSS."""

from __future__ import annotations

import json
import sys

import duckdb

from benchmarks.baselines import parse_with_re, parse_with_re_arrow_typed
from benchmarks.common import measured
from pipelines.parsing.parse import iter_parse, parse_log


def ours(path: str, workers: int = 2) -> dict:
    rows = rejects = lines = 0
    with open(path, "rb") as f:
        for part in iter_parse(f, path, workers=workers):  # bytes in, typed Arrow out
            rows += len(part.records)
            rejects += len(part.rejects)
            lines += part.lines_read
    return {"rows": rows, "lines": lines, "rejects": rejects, "lost": 0}


def _blocks(path: str, parse) -> dict:
    rows = lost = lines = 0
    with open(path, "rb") as f:
        while block := f.read(4 << 20):
            block += f.readline()
            table, missed = parse(block)
            rows += table.num_rows
            lost += missed
            lines += table.num_rows + missed
    return {"rows": rows, "lines": lines, "rejects": 0, "lost": lost}


def python_re(path: str) -> dict:
    return _blocks(path, parse_with_re)


def python_re_arrow_typed(path: str) -> dict:
    return _blocks(path, parse_with_re_arrow_typed)


# The 27 documented fields with the bracketed time split in two, as a CSV reader sees them.
_DUCK_COLUMNS = {
    "bucket_owner": "VARCHAR", "bucket": "VARCHAR", "time1": "VARCHAR", "time2": "VARCHAR",
    "remote_ip": "VARCHAR", "requester": "VARCHAR", "request_id": "VARCHAR",
    "operation": "VARCHAR", "key": "VARCHAR", "request_uri": "VARCHAR",
    "http_status": "SMALLINT", "error_code": "VARCHAR", "bytes_sent": "BIGINT",
    "object_size": "BIGINT", "total_time": "BIGINT", "turnaround_time": "BIGINT",
    "referer": "VARCHAR", "user_agent": "VARCHAR", "version_id": "VARCHAR",
    "host_id": "VARCHAR", "sigv": "VARCHAR", "cipher": "VARCHAR", "auth": "VARCHAR",
    "host_header": "VARCHAR", "tls": "VARCHAR", "ap_arn": "VARCHAR", "acl": "VARCHAR",
    "source_region": "VARCHAR"}


def duckdb_csv(path: str) -> dict:
    con = duckdb.connect()
    rel = con.sql(
        "SELECT * REPLACE (strptime(time1 || ' ' || time2, '[%d/%b/%Y:%H:%M:%S %z]') AS time1) "
        "FROM read_csv($path, delim=' ', quote='\"', escape='\"', header=false, "
        "columns=$columns, nullstr='-', ignore_errors=true, strict_mode=false, "
        "auto_detect=false)", params={"path": path, "columns": _DUCK_COLUMNS})
    rows = 0
    reader = rel.to_arrow_reader(1 << 16)
    for batch in reader:
        rows += batch.num_rows
    with open(path, "rb") as f:
        lines = sum(1 for line in f if line.strip())
    return {"rows": rows, "lines": lines, "rejects": 0, "lost": lines - rows}


def ours_1_worker(path: str) -> dict:
    return ours(path, workers=1)


def ingest_from_folder(path: str) -> dict:
    """The same file as one log object of a local folder source, ingested end to end:
    listed, read, parsed, split by day and bucket into the spill, committed as staging,
    and rebuilt into the lake's deduplicated, sorted zstd Parquet."""
    import os
    import tempfile
    from datetime import date, timedelta

    from pipelines.ingestion.ingest import ingest
    from pipelines.ingestion.sources import LogSource
    from pipelines.lake.store import Lake

    with tempfile.TemporaryDirectory(prefix="s3logs-bench-") as tmp:
        logs = os.path.join(tmp, "logs")
        os.mkdir(logs)
        os.link(path, os.path.join(logs, "2026-11-01-00-00-00-0123456789ABCDEF"))
        report = ingest([LogSource(logs + "/", layout="simple")], Lake(os.path.join(
            tmp, "lake")), [date(2026, 11, 1) + timedelta(days=i) for i in range(1)],
            progress=False)
    d = report.days[0]
    return {"rows": d.rows_parsed, "lines": d.lines_read, "rejects": d.rows_quarantined,
            "lost": 0}


METHODS = {"ours": ours, "ours_1_worker": ours_1_worker,
           "ingest_from_folder": ingest_from_folder, "python_re": python_re,
           "python_re_arrow_typed": python_re_arrow_typed, "duckdb_read_csv": duckdb_csv}

if __name__ == "__main__":
    method, path = sys.argv[1], sys.argv[2]
    if method.startswith("ours"):
        parse_log(b"warm-up\n")  # the kernel compiles once per machine (then cached): untimed
    print(json.dumps(measured(METHODS[method], path)))
