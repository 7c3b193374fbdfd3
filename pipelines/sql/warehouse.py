"""The analyst warehouse: a DuckDB file holding what the SQL catalog describes, documented.

It is the model session made permanent: the lake's tables, the seeds, macros and views, and
a view per model over its results in the lake, each with the comments its header gives
(`SELECT * FROM duckdb_columns()` shows them). It is built under a temporary name and
renamed over the old one, so analysts never open a half-built warehouse, and the file is
left read-only on disk.

Analysts read; they cannot write, by construction rather than by a list of statements:
`open_warehouse` opens the file read-only and mounts each lake folder as an Arrow dataset
(pyarrow reads; it has no way to write through a scan), then switches DuckDB's own file
access off and locks its configuration. So no statement, EXPLAIN ANALYZE or future DuckDB
feature reaches a file: not the lake, not the marts, not the `_alerts` claims, not the
warehouse, not anywhere else. Keeping results is `s3logs query --out FILE`, written by the
command line, not by SQL.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa

from pipelines.lake.store import LAKE_TABLES, Lake
from pipelines.security.policy import CONFIG_TABLES, NO_POLICY, PolicyFiles
from pipelines.sql.catalog import Catalog, Kind, load
from pipelines.sql.session import Column, columns, comment, compiled, connect, install, mount

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


KEEP_RESULTS = "to keep results, add --format csv|json|parquet --out FILE"
# How DuckDB words a refusal of the analyst connection: a file touched, the read-only
# file written, a setting changed.
_REFUSALS = ("file system operations are disabled", "read-only mode",
             "configuration has been locked", "external extensions is disabled")


class ReadOnlyError(PermissionError):
    """An analyst entry point was asked to change something; one sentence."""


def open_warehouse(path: str, lake: Lake, catalog: Catalog | None = None
                   ) -> duckdb.DuckDBPyConnection:
    """The warehouse for reading. DuckDB gets no file system at all: the warehouse file is
    opened read-only, each lake folder is shadowed by a temporary view over an Arrow
    dataset (the warehouse's views name them, so they read through it), and file access
    is switched off with the configuration locked."""
    if not Path(path).exists():
        raise FileNotFoundError(f"the warehouse {path} does not exist yet: run `make demo`, "
                                "or materialize analyst_warehouse in Dagster")
    catalog = catalog or load()
    con = connect(None, path, read_only=True)
    listed = _listed_columns(con)
    folders = [(t.folder, t.name, t.schema) for t in LAKE_TABLES.values()] + [
        (f"marts/{name}", name, shape.schema) for name, shape in compiled(catalog).empty.items()]
    for folder, name, schema in folders:
        mount(con, lake, folder, name, _ordered(schema, listed.get(name, [])))
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _listed_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Each relation's columns in the order the warehouse file lists them (its catalog,
    read without binding a view)."""
    listed: dict[str, list[str]] = {}
    for table, column in con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                                     "WHERE schema_name = 'main' ORDER BY column_index"
                                     ).fetchall():
        listed.setdefault(table, []).append(column)
    return listed


def _ordered(schema: pa.Schema, listed: list[str]) -> pa.Schema:
    """`schema` in the warehouse view's column order, where they name the same columns:
    `SELECT *` reads the same through s3logs as through `duckdb -readonly`."""
    if sorted(listed) != sorted(schema.names):
        return schema
    return pa.schema([schema.field(name) for name in listed])


def refusal(error: duckdb.Error) -> ReadOnlyError | None:
    """The one sentence for a statement the analyst connection refused, or None when
    `error` is an ordinary query error."""
    first = str(error).splitlines()[0]
    if not any(r in first for r in _REFUSALS):
        return None
    return ReadOnlyError(f"the warehouse is for reading and reaches no file ({first}); "
                         f"{KEEP_RESULTS}")


def build(lake: Lake, path: str, catalog: Catalog | None = None,
          policy_files: PolicyFiles = NO_POLICY) -> dict[str, int]:
    """(Re)build the warehouse at `path`, holding the tables of `policy_files`; returns
    the rows of each table and view."""
    catalog = catalog or load()
    done = compiled(catalog)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.building")  # runs at once
    with tempfile.TemporaryDirectory(prefix="s3logs-warehouse-") as work:
        # built under a plain name: DuckDB misplaces the write-ahead log of a path with a
        # `?` in it, and the warehouse may live anywhere
        built = os.path.join(work, "warehouse.duckdb")
        con = connect(lake, built)
        try:
            install(con, lake, catalog, done.empty, persistent=True,
                    policy_files=policy_files)
            _comment_everything(con, catalog, done.columns)
            counts = {name: con.table(name).aggregate("count(*)").fetchall()[0][0]
                      for name in sorted(_relations(con))}
        finally:
            con.close()
        shutil.move(built, tmp)
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
    names = _listed_columns(con)  # from the catalog: binding a view would read the lake
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
