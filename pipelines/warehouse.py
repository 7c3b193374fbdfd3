"""The analyst warehouse: a DuckDB file of documented views over the lake.

Views are defined in `sql/views/*.sql`. DuckDB cannot bind parameters in DDL, so the only
values placed into view text are the lake's own glob paths, through `sql_literal`, which
quotes them and refuses control characters; nothing from log content is ever placed there.
The file is built under a temporary name and renamed over the old one, so analysts never
open a half-built warehouse.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path

import duckdb

from .lake import PARTITIONED_SCHEMA, Lake
from .logformat import REJECT_SCHEMA, field_docs

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_PARAM = re.compile(r":([a-z_]+)\b")


def sql_identifier(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return f'"{name}"'


def sql_literal(value: str) -> str:
    if any(ord(c) < 32 for c in value):
        raise ValueError(f"refusing a path with control characters: {value!r}")
    return "'" + value.replace("'", "''") + "'"


def render(sql: str, values: dict[str, str]) -> str:
    """Put quoted values in place of `:name` (DDL only; queries bind parameters)."""
    return _PARAM.sub(lambda m: sql_literal(values[m.group(1)]), sql)


def connect(lake: Lake | None, database: str = ":memory:", **kwargs) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that can read the lake: for an S3 lake, through the same s3fs
    filesystem (DuckDB's own S3 extension is not needed, nor downloaded)."""
    con = duckdb.connect(database, **kwargs)
    if lake is not None and lake.loc.is_s3:
        con.register_filesystem(lake.fs)
    return con


def open_warehouse(path: str, lake: Lake | None = None) -> duckdb.DuckDBPyConnection:
    """The analyst warehouse, read-only; for a lake on S3 the s3fs filesystem is registered
    so its views can read it."""
    if not Path(path).exists():
        raise FileNotFoundError(f"the warehouse {path} does not exist yet: run `make demo`, "
                                "or materialize analyst_warehouse in Dagster")
    return connect(lake, path, read_only=True) if lake else duckdb.connect(path,
                                                                           read_only=True)


def build(lake: Lake, path: str) -> dict[str, int]:
    """(Re)build the warehouse at `path`: the lake's records (`access_logs`, with derived
    columns), `quarantine`, one view per model, the seeded tables and the macros. Returns
    row counts per view."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.building")
    tmp.unlink(missing_ok=True)
    con = connect(lake, str(tmp))
    try:
        _create_views(con, lake)
        views = [r[0] for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()]
        counts = {v: con.table(v).aggregate("count(*)").fetchall()[0][0] for v in views}
    finally:
        con.close()
    os.replace(tmp, target)
    return counts


def _create_views(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    from . import models  # the model runner needs this module's helpers

    models.install_seeds_and_macros(con)
    sources = {"lake_access_logs": ("access_logs", PARTITIONED_SCHEMA),
               "quarantine": ("quarantine", REJECT_SCHEMA)}
    for view, (table, schema) in sources.items():
        _parquet_view(con, view, lake, table, schema)
    con.execute(models.sql("views/access_logs.sql"))
    for model in models.model_names():  # a model not run yet: its empty, typed result
        empty = None if lake.files(f"marts/{model}") else models.query(
            con, model, NEVER, NEVER)
        _parquet_view(con, model, lake, f"marts/{model}",
                      None if empty is None else empty.schema)
    con.execute(models.sql("views/billing_month_to_date.sql"))
    con.execute(models.sql("views/macros.sql"))

    docs = {**models.COLUMN_DOCS, **field_docs(),
            "dt": "UTC event date of the request (partition).",
            "bucket": "Source bucket (partition)."}
    derived = _leading_comments(models.sql("views/access_logs.sql"))
    view_docs = {"access_logs": derived,
                 "lake_access_logs": "The lake's records as stored, without derived columns.",
                 "quarantine": "Lines that did not parse, with their raw bytes, object key, "
                               "line number and reason (dt: the day the object was filed "
                               "under).",
                 **{m: models.model_doc(m) for m in models.model_names()},
                 "billing_month_to_date": _leading_comments(
                     models.sql("views/billing_month_to_date.sql"))}
    docs.update(DERIVED_DOCS)
    placeholders = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_empty\\_%' "
        "ESCAPE '\\'").fetchall()]
    for table in placeholders:
        _comment(con, table, None, f"Empty, typed stand-in for {table[7:]} until the lake "
                 "has data for it.", kind="TABLE")
        for column in con.table(table).columns:
            _comment(con, table, column, docs.get(column, column.replace("_", " ")),
                     kind="TABLE")
    for table, (doc, columns) in models.SEED_DOCS.items():
        _comment(con, table, None, doc, kind="TABLE")
        for column, text in columns.items():
            _comment(con, table, column, text, kind="TABLE")
    for view, doc in view_docs.items():
        if view in _views(con):
            _comment(con, view, None, doc)
            for column in con.table(view).columns:
                _comment(con, view, column, docs.get(column, column.replace("_", " ")))


DERIVED_DOCS = {
    "http_method": "HTTP method, from the request line (or the operation).",
    "key_decoded": "The key URL-decoded (%XX sequences; a + stays a +).",
    "key_prefix": "The key's first path segment with its slash (the key itself if flat).",
    "requester_type": "anonymous, iam_user, assumed_role, iam_root, aws_service, "
                      "canonical_user or other.",
    "requester_account": "AWS account id in the requester ARN.",
    "role_name": "IAM role name, for assumed-role requesters.",
    "is_error": "True for HTTP status 400 and above.",
    "request_tier": "How S3 bills the request: tier1, tier2, free or system.",
}


def _views(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}


def _leading_comments(sql: str) -> str:
    return " ".join(line.removeprefix("--").strip() for line in sql.splitlines()
                    if line.startswith("--"))


def _parquet_view(con, view: str, lake: Lake, table: str, schema) -> None:
    """`view` over the lake folder `table` (hive partitions); typed and empty if the folder
    holds no file yet."""
    if lake.files(table):
        glob = f"{lake.loc.display(lake.path(table))}/**/*.parquet"
        con.execute(render(PARQUET_VIEW, {"glob": glob}).replace("__view__",
                                                                 sql_identifier(view)))
    elif schema is not None:
        con.from_arrow(schema.empty_table()).create(f"_empty_{view}")
        con.table(f"_empty_{view}").create_view(view, replace=True)


NEVER = date(1900, 1, 1)
PARQUET_VIEW = ("CREATE OR REPLACE VIEW __view__ AS SELECT * FROM read_parquet(:glob, "
                "hive_partitioning = true, hive_types_autocast = false, "
                "union_by_name = true)")


def _comment(con, view: str, column: str | None, doc: str, kind: str = "VIEW") -> None:
    """COMMENT ON cannot take parameters: identifiers are checked, the text quoted."""
    target = sql_identifier(view) + (f".{sql_identifier(column)}" if column else "")
    kind = "COLUMN" if column else kind
    con.execute(f"COMMENT ON {kind} {target} IS {sql_literal(doc)}")
