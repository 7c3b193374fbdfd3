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
from pathlib import Path

import duckdb

from .lake import Lake
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


def connect(lake: Lake, database: str = ":memory:", **kwargs) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that can read the lake: for an S3 lake, through the same s3fs
    filesystem (DuckDB's own S3 extension is not needed, nor downloaded)."""
    con = duckdb.connect(database, **kwargs)
    if lake.loc.is_s3:
        con.register_filesystem(lake.fs)
    return con


def lake_glob(lake: Lake, table: str) -> str:
    depth = {"access_logs": "*/*/*.parquet", "quarantine": "*/*/*.parquet"}[table]
    return f"{lake.loc.display(lake.path(table))}/{depth}"


def build(lake: Lake, path: str) -> dict[str, int]:
    """(Re)build the warehouse at `path`; returns row counts per view."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.building")
    tmp.unlink(missing_ok=True)
    con = connect(lake, str(tmp))
    try:
        _create_views(con, lake)
        counts = {v: con.table(v).aggregate("count(*)").fetchall()[0][0]
                  for v in ("access_logs", "quarantine")}
    finally:
        con.close()
    os.replace(tmp, target)
    return counts


def _create_views(con: duckdb.DuckDBPyConnection, lake: Lake) -> None:
    docs = field_docs()
    for name, schema_table in (("access_logs", "access_logs"), ("quarantine", "quarantine")):
        sql = (SQL_DIR / "views" / f"{name}.sql").read_text()
        if lake.files(schema_table):
            con.execute(render(sql, {f"{name}_glob": lake_glob(lake, schema_table)}))
        else:  # an empty lake still gets its (empty, typed) views
            empty = _empty(name)
            con.register("empty", empty)
            con.from_arrow(empty).create(f"_empty_{name}")
            con.unregister("empty")
            con.table(f"_empty_{name}").create_view(name, replace=True)
        comment = " ".join(sql.split("CREATE", 1)[0].replace("--", "").split())
        _comment(con, name, None, comment)
        columns = set(con.table(name).columns)
        for column, doc in docs.items():
            if column in columns:
                _comment(con, name, column, doc)
    for column, doc in (("dt", "UTC event date of the request (partition)."),
                        ("bucket", "Source bucket (partition).")):
        if column in con.table("access_logs").columns:
            _comment(con, "access_logs", column, doc)


def _comment(con, view: str, column: str | None, doc: str) -> None:
    """COMMENT ON cannot take parameters: identifiers are checked, the text quoted."""
    target = sql_identifier(view) + (f".{sql_identifier(column)}" if column else "")
    kind = "COLUMN" if column else "VIEW"
    con.execute(f"COMMENT ON {kind} {target} IS {sql_literal(doc)}")


def _empty(name: str):
    from .lake import LAKE_SCHEMA

    schema = LAKE_SCHEMA if name == "access_logs" else REJECT_SCHEMA
    return schema.empty_table()
