"""One ingestion method in its own process: `python -m benchmarks.ingest_methods METHOD
ENDPOINT OUT DAYS` prints a JSON line (objects, bytes, requests, seconds, peak RSS)."""

from __future__ import annotations

import json
import os
import sys
from datetime import date, timedelta

import boto3
import pyarrow.parquet as pq

from benchmarks.baselines import parse_with_re
from benchmarks.common import measured
from pipelines.ingestion.ingest import ingest
from pipelines.ingestion.sources import LogSource
from pipelines.lake.store import Lake
from pipelines.memory import bound_allocator

SOURCE_BUCKET, PREFIX = "bench-logs", "logs/"


def ours(endpoint: str, out: str, days: list[date]) -> dict:
    bound_allocator()  # as `s3logs` does
    report = ingest([LogSource(f"s3://{SOURCE_BUCKET}/{PREFIX}", endpoint=endpoint)],
                    Lake(out), days, progress=False)
    return {"objects": report.total("objects_ingested"),
            "bytes": report.total("bytes_fetched"), "rows": report.total("rows_parsed"),
            "LIST": report.requests["LIST"], "GET": report.requests["GET"]}


def naive(endpoint: str, out: str, days: list[date]) -> dict:
    """A sequential boto3 get_object loop, the Python re parser, one Parquet per object."""
    s3 = boto3.client("s3", endpoint_url=endpoint)
    objects = size = rows = lists = 0
    os.makedirs(out, exist_ok=True)
    for day in days:
        kwargs = {"Bucket": SOURCE_BUCKET, "Prefix": f"{PREFIX}{day:%Y-%m-%d}-"}
        while True:
            page = s3.list_objects_v2(**kwargs)
            lists += 1
            for o in page.get("Contents", []):
                body = s3.get_object(Bucket=SOURCE_BUCKET, Key=o["Key"])["Body"].read()
                table, _ = parse_with_re(body)
                pq.write_table(table, os.path.join(out, o["Key"].replace("/", "_") + ".parquet"))
                objects += 1
                size += len(body)
                rows += table.num_rows
            if not page.get("IsTruncated"):
                break
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
    return {"objects": objects, "bytes": size, "rows": rows, "LIST": lists, "GET": objects}


def fetch_only(endpoint: str, out: str, days: list[date]) -> dict:
    """The endpoint's ceiling: list and GET every object concurrently, nothing else."""
    source = LogSource(f"s3://{SOURCE_BUCKET}/{PREFIX}", endpoint=endpoint)
    infos = [o for day in days for o in source.list_day(day).objects]
    data = source.loc.fs.cat([o.path for o in infos], batch_size=32)
    return {"objects": len(data), "bytes": sum(map(len, data.values())), "rows": 0,
            "LIST": source.counts["LIST"], "GET": source.counts["GET"]}


METHODS = {"ours": ours, "naive": naive, "fetch_only": fetch_only}

if __name__ == "__main__":
    method, endpoint, out, first, n = sys.argv[1:6]
    days = [date.fromisoformat(first) + timedelta(days=i) for i in range(int(n))]
    print(json.dumps(measured(METHODS[method], endpoint, out, days)))
