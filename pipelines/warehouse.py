"""The analyst warehouse: a DuckDB file holding what the SQL catalog describes, documented.

It is the model session made permanent: the lake's tables, the seeds, macros and views, and
a view per model over its results in the lake, each with the comments its header gives
(`SELECT * FROM duckdb_columns()` shows them). It is built under a temporary name and
renamed over the old one, so analysts never open a half-built warehouse, and the file is
left read-only on disk.

Analysts read; they cannot write. `open_warehouse` opens the file read-only, lets DuckDB
touch no file but the lake's (no COPY elsewhere, no other file read, no extension), locks
that configuration, and `check_read_only` refuses every statement but reads: a COPY into
the lake itself is refused too. Keeping results is `s3logs query --out FILE`, written by
the command line, not by SQL.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb

from .catalog import Catalog, Kind, load
from .lake import LAKE_TABLES, Lake
from .policy import CONFIG_TABLES
from .session import Column, columns, comment, compiled, connect, install, literal

STALE = "Not produced by the current model (results of an older version): recompute " \
        "those days to drop it."


def listing(catalog: Catalog | None = None) -> list[tuple[str, str, str]]:
    """(name, kind, description) of everything the warehouse holds, from the headers."""
    catalog = catalog or load()
    columns(catalog)  # compiling checks every header against its SQL
    rows = [(t.name, "lake table", t.doc) for t in LAKE_TABLES.values()]
    rows += [(t.name, "policy table", t.doc) for t in CONFIG_TABLES.values()]
    for kind, label in ((Kind.VIEW, "view"), (Kind.MODEL, "model"), (Kind.SEED, "seed"),
                        (Kind.MACRO, "macro")):
        rows += [(m.name, label, m.description) for m in catalog.of(kind)]
    return rows


READ_STATEMENTS = ("SELECT", "EXPLAIN", "PRAGMA", "CALL")


class ReadOnlyError(PermissionError):
    """An analyst entry point was asked to change something; one sentence."""


def open_warehouse(path: str, lake: Lake) -> duckdb.DuckDBPyConnection:
    """The warehouse for reading: the file opened read-only, the lake the one place DuckDB
    may touch (for a lake on S3, through the registered s3fs), the settings locked."""
    if not Path(path).exists():
        raise FileNotFoundError(f"the warehouse {path} does not exist yet: run `make demo`, "
                                "or materialize analyst_warehouse in Dagster")
    con = connect(lake, path, read_only=True)
    con.execute(f"SET allowed_directories = [{literal(lake.display(lake.path()) + '/')}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but reading (COPY, EXPORT, ATTACH, CREATE, INSERT, SET, ...)."""
    for statement in con.extract_statements(sql):
        kind = str(statement.type).rsplit(".", 1)[-1]
        if kind not in READ_STATEMENTS:
            raise ReadOnlyError(f"{kind} statements are not allowed here: the warehouse is "
                                "for reading; to keep results, add --format csv|json|parquet "
                                "--out FILE")


def build(lake: Lake, path: str, catalog: Catalog | None = None) -> dict[str, int]:
    """(Re)build the warehouse at `path`; returns the rows of each table and view."""
    catalog = catalog or load()
    done = compiled(catalog)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.building")  # runs at once
    con = connect(lake, str(tmp))
    try:
        install(con, lake, catalog, done.empty, persistent=True)
        _comment_everything(con, catalog, done.columns)
        counts = {name: con.table(name).aggregate("count(*)").fetchall()[0][0]
                  for name in sorted(_relations(con))}
    finally:
        con.close()
    os.chmod(tmp, 0o444)  # read-only for whoever opens it (duckdb -readonly)
    os.replace(tmp, target)
    return counts


def _relations(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every table and view the build created: name -> TABLE or VIEW."""
    rows = con.execute("SELECT table_name, table_type FROM information_schema.tables "
                       "WHERE table_schema = 'main'").fetchall()
    return {name: "VIEW" if kind == "VIEW" else "TABLE" for name, kind in rows}


def _comment_everything(con, catalog: Catalog, documented: dict[str, list[Column]]) -> None:
    relations = _relations(con)
    names: dict[str, list[str]] = {}  # from the catalog: binding a view would read the lake
    for table, column in con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                                     "WHERE schema_name = 'main' ORDER BY column_index"
                                     ).fetchall():
        names.setdefault(table, []).append(column)
    for table in [*LAKE_TABLES.values(), *CONFIG_TABLES.values()]:
        _comment_relation(con, relations[table.name], table.name, names[table.name],
                          table.doc, table.docs)
    for model in catalog.of(Kind.SEED, Kind.VIEW, Kind.MODEL):
        docs = {c.name: c.doc for c in documented[model.name]}
        _comment_relation(con, relations[model.name], model.name, names[model.name],
                          model.description, docs)
    macros = dict(con.execute("SELECT function_name, function_type FROM duckdb_functions() "
                              "WHERE function_type IN ('macro', 'table_macro') "
                              "AND NOT internal").fetchall())
    for model in catalog.of(Kind.MACRO):
        kind = "MACRO TABLE" if macros.get(model.name) == "table_macro" else "MACRO"
        comment(con, kind, model.name, model.description)


def _comment_relation(con, kind: str, name: str, columns: list[str], doc: str,
                      docs: dict[str, str]) -> None:
    comment(con, kind, name, doc)
    for column in columns:
        comment(con, kind, name, docs.get(column, STALE), column=column)
