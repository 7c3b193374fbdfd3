"""Run the DuckDB SQL models over the lake and write their results back to it.

Each model is one SELECT in `sql/<subject>/<model>.sql`, over the `access_logs` view (the
lake plus derived columns, `sql/views/access_logs.sql`) and the seeded tables (prices,
bucket accounts, detection settings). It takes a day range as bound parameters
($start_date, $end_date) and its rows carry `dt`; the runner writes them to
`LAKE/marts/<model>/dt=YYYY-MM-DD/part-00000.parquet`, replacing exactly the days it
computed (a day with no rows loses its old file), deterministically and atomically like the
records. Sessions are in-memory DuckDB connections, so parallel runs never contend for a
database file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from .lake import PARTITIONED_SCHEMA, Lake
from .warehouse import SQL_DIR, connect

MODELS = {  # name -> file under sql/
    "usage_daily": "usage/usage_daily.sql",
    "usage_top_n": "usage/usage_top_n.sql",
    "usage_by_prefix": "usage/usage_by_prefix.sql",
    "usage_status_codes": "usage/usage_status_codes.sql",
    "billing_daily": "billing/billing_daily.sql",
    "security_findings": "security/security_findings.sql",
}
MACROS = ["billing/request_tier.sql", "security/setting.sql"]
SEEDS = {  # table -> (csv under sql/, column types)
    "prices": ("billing/prices.csv", {"from_gb": pa.float64(), "to_gb": pa.float64(),
                                      "usd": pa.float64(), "effective_from": pa.string(),
                                      "effective_to": pa.string()}),
    "bucket_accounts": ("billing/bucket_accounts.csv", {"bucket": pa.string(),
                                                        "account_id": pa.string()}),
    "detection_settings": ("security/detection_settings.csv", {"value": pa.string()}),
}
DEFAULT_PARAMS = {"top_n": 10, "prefix_depth": 1}
SEED_DOCS = {
    "prices": ("Versioned S3 price table (sql/billing/prices.csv): the billing models use "
               "the row in effect on each day.",
               {"region": "AWS Region.", "storage_class": "Storage class, or ALL.",
                "item": "tier1, tier2 (per 1,000 requests) or transfer_out (per GB, tiered).",
                "from_gb": "Start of the monthly transfer tier in GB.",
                "to_gb": "End of the monthly transfer tier in GB (null: no end).",
                "usd": "Price in USD.", "unit": "per_1000_requests or per_gb.",
                "effective_from": "First day the price applies.",
                "effective_to": "Last day the price applies (null: still in effect).",
                "source_url": "Where the price comes from."}),
    "bucket_accounts": ("Bucket owner account ids (sql/billing/bucket_accounts.csv), for "
                        "the rule that 403s from outside the owner's account are not billed.",
                        {"bucket": "Bucket name.", "account_id": "Owner's AWS account id."}),
    "detection_settings": ("Thresholds and severities of the security detections "
                           "(sql/security/detection_settings.csv).",
                           {"detection": "Detection name.", "parameter": "Setting name.",
                            "value": "Setting value (text; cast where used)."}),
}

COLUMN_DOCS = {  # the documentation of every model column, for the warehouse comments
    "dt": "UTC day (partition).",
    "bucket": "Source bucket.",
    "operation": "S3 operation, e.g. REST.GET.OBJECT.",
    "requests": "Number of requests.",
    "errors": "Requests answered with an HTTP status of 400 or more.",
    "errors_4xx": "Requests answered 4xx.",
    "errors_5xx": "Requests answered 5xx.",
    "bytes_sent": "Response bytes sent.",
    "object_bytes": "Sum of the sizes of the objects the requests touched.",
    "distinct_requesters": "Distinct requesters (anonymous not counted).",
    "distinct_remote_ips": "Distinct remote IP addresses.",
    "total_time_p50_ms": "Median total time in milliseconds.",
    "total_time_p95_ms": "95th percentile of total time in milliseconds.",
    "total_time_p99_ms": "99th percentile of total time in milliseconds.",
    "turnaround_p50_ms": "Median turn-around time in milliseconds.",
    "turnaround_p95_ms": "95th percentile of turn-around time in milliseconds.",
    "turnaround_p99_ms": "99th percentile of turn-around time in milliseconds.",
    "dimension": "What is ranked: key, requester, remote_ip or user_agent.",
    "value": "The key, requester, remote IP or user agent.",
    "rank": "1 for the busiest.",
    "key_prefix": "The first path segments of the key.",
    "http_status": "HTTP status (null for records without one, such as lifecycle).",
    "error_code": "S3 error code.",
    "requester": "Requester ARN or canonical ID; anonymous for unauthenticated requests.",
    "role_name": "IAM role of an assumed-role requester.",
    "mtd_request_cost_usd": "Request cost from the first of the month to this day.",
    "mtd_transfer_out_cost_usd": "Transfer out cost from the first of the month to this day.",
    "mtd_total_usd": "Both, from the first of the month to this day.",
    "tier1_requests": "Billed Tier 1 requests (PUT, COPY, POST, LIST).",
    "tier2_requests": "Billed Tier 2 requests (GET, HEAD and others).",
    "free_requests": "DELETE and CANCEL requests (free).",
    "system_records": "Records S3 writes that are not billed requests (lifecycle, copy "
                      "source side, per-key lines of a multi-object delete).",
    "unbilled_requests": "Requests S3 does not bill: 5xx, and 403 AccessDenied from outside "
                         "the owner's account since 2024-05-13.",
    "request_cost_usd": "Estimated request cost in USD (prices in effect that day).",
    "internet_bytes": "Billed bytes sent to clients outside AWS (an estimate).",
    "transfer_out_cost_usd": "Estimated data transfer out cost in USD: monthly tiers after "
                             "the first 100 GB, shared by bytes.",
    "detection": "Which detection fired.",
    "severity": "info, low, medium or high (detection_settings).",
    "principal": "Requester, or anonymous.",
    "remote_ip": "Remote IP address.",
    "request_count": "Requests in the finding.",
    "first_seen": "First request of the finding.",
    "last_seen": "Last request of the finding.",
    "sample_request_ids": "Up to three request ids as evidence.",
}


@dataclass
class ModelRun:
    model: str
    rows: int
    days: list[str]
    files: list[str]


def sql(path: str) -> str:
    return (SQL_DIR / path).read_text()


def seed(name: str) -> pa.Table:
    path, types = SEEDS[name]
    return pacsv.read_csv(SQL_DIR / path, convert_options=pacsv.ConvertOptions(
        column_types=types, strings_can_be_null=True))


def session(lake: Lake) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the lake as `lake_access_logs`, the enriched
    `access_logs` view, the macros and the seeded tables."""
    con = connect(lake)
    try:
        records = lake.dataset()
    except FileNotFoundError:
        records = PARTITIONED_SCHEMA.empty_table()
    con.register("lake_access_logs", records)
    install_seeds_and_macros(con)
    con.execute(sql("views/access_logs.sql"))
    return con


def install_seeds_and_macros(con: duckdb.DuckDBPyConnection) -> None:
    """The seeded tables (prices, bucket accounts, detection settings) and the macros the
    models use: shared by model sessions and the analyst warehouse."""
    for name in SEEDS:
        con.from_arrow(seed(name)).create(name)
    for path in MACROS:
        con.execute(sql(path))


def days_between(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def query(con: duckdb.DuckDBPyConnection, model: str, start: date, end: date,
          **params) -> pa.Table:
    text = sql(MODELS[model])
    values = {"start_date": start.isoformat(), "end_date": end.isoformat(),
              **{k: v for k, v in {**DEFAULT_PARAMS, **params}.items() if f"${k}" in text}}
    return con.sql(text, params=values).to_arrow_table()


def run_model(lake: Lake, model: str, start: date, end: date,
              con: duckdb.DuckDBPyConnection | None = None, **params) -> ModelRun:
    """Compute `model` for start..end and replace those days in the lake's marts."""
    con = con or session(lake)
    table = query(con, model, start, end, **params)
    days = days_between(start, end)
    files = []
    data = table.drop_columns(["dt"])
    dts = table["dt"].to_pylist()
    for day in days:
        first = dts.index(day) if day in dts else None
        rows = data.slice(first, dts.count(day)) if first is not None else data.slice(0, 0)
        files += lake.replace_table_partition(["marts", model, f"dt={day}"], rows)
    return ModelRun(model, table.num_rows, days, files)


def run_models(lake: Lake, start: date, end: date, models: list[str] | None = None,
               **params) -> dict[str, ModelRun]:
    con = session(lake)
    try:
        return {m: run_model(lake, m, start, end, con, **params) for m in models or MODELS}
    finally:
        con.close()


def model_names() -> list[str]:
    return list(MODELS)


def model_doc(model: str) -> str:
    """The model's leading comment: its documentation in the warehouse and the UI."""
    lines = []
    for line in (SQL_DIR / MODELS[model]).read_text().splitlines():
        if not line.startswith("--"):
            break
        lines.append(line.removeprefix("--").strip())
    return " ".join(lines)

