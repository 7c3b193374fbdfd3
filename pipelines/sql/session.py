"""One DuckDB session for everything that queries the lake: the model runner, the
warehouse, the report and the command line.

`connect` opens DuckDB, registering the s3fs filesystem for a lake on S3 (so no DuckDB
extension is downloaded). `install` creates what the SQL catalog describes, in dependency
order: the lake's tables, seeds, macros, views, and each model's results (its lake folder,
or an empty typed table before it has run). A lake folder is an Arrow dataset of known
schema in a session (found with one listing, pruned by partition, no file opened to bind),
and a `read_parquet` view in the warehouse file, which must keep it. Queries bind their
parameters; views are created from bound relations, so DuckDB itself writes their text.
DuckDB cannot bind parameters in DDL such as COMMENT, so `identifier` and `literal` are the
one way a name or a text reaches it: names are checked, texts quoted.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import uuid
from dataclasses import dataclass
from functools import cache

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from pipelines.lake.store import LAKE_TABLES, Lake
from pipelines.security import policy
from pipelines.sql.catalog import Catalog, CatalogError, Kind, Model, load, session_sql

_TYPES = {"VARCHAR": pa.string(), "TEXT": pa.string(), "DOUBLE": pa.float64(),
          "BIGINT": pa.int64(), "INTEGER": pa.int32(), "BOOLEAN": pa.bool_(),
          "DATE": pa.date32()}
_PLACEHOLDER_DAY = "1970-01-01"  # binds the day range when only a result's shape is wanted
# What a model session may hold in memory before DuckDB spills to its temporary folder: a
# day's models stay within it whatever the day's size. The process adds Python, the catalog
# and Arrow's scan buffers on top: about 1 GB more at 1.4 million requests a day.
MEMORY_LIMIT = "512MB"
_SIZE = re.compile(r"[0-9]+(\.[0-9]+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.I)


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str


@dataclass(frozen=True)
class Compiled:
    """What compiling the catalog found: every relation's documented columns, and each
    model's result shape (an empty table)."""

    columns: dict[str, list[Column]]
    empty: dict[str, pa.Table]


def connect(lake: Lake | None = None, database: str = ":memory:",
            read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """DuckDB that can read the lake: for an S3 lake, through the lake's own s3fs."""
    con = duckdb.connect(database, read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")  # hours and days are UTC's, whatever the host's
    if lake is not None and lake.loc.is_s3:
        con.register_filesystem(lake.fs)
    # ip_key(address): IPv4 and IPv6 as comparable text, for CIDR ranges (pipelines.security.policy)
    con.create_function("ip_key", policy.ip_keys, [duckdb.sqltype("VARCHAR")],
                        duckdb.sqltype("VARCHAR"), type="arrow", side_effects=False,
                        null_handling="special")
    return con


def identifier(name: str) -> str:
    """A checked, quoted SQL identifier (lower-case letters, digits and underscores)."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return f'"{name}"'


def literal(text: str) -> str:
    """A quoted SQL string literal; control characters are refused."""
    if any(ord(c) < 32 and c not in "\n\t" for c in text):
        raise ValueError(f"refusing text with control characters: {text!r}")
    return "'" + text.replace("'", "''") + "'"


def glob_literal(path: str) -> str:
    """`path` as a glob that matches only itself: a lake folder named `lake[1]` must not
    read `lake1`. Each glob character becomes a one-character class: [ is [[], * is [*]."""
    return re.sub(r"[\[\]*?]", lambda m: f"[{m.group()}]", path)


def comment(con: duckdb.DuckDBPyConnection, kind: str, name: str, text: str,
            column: str | None = None) -> None:
    """COMMENT ON kind name[.column] IS 'text' (kind: TABLE, VIEW, MACRO, MACRO TABLE)."""
    if kind not in ("TABLE", "VIEW", "MACRO", "MACRO TABLE"):
        raise ValueError(f"cannot comment on a {kind}")
    target = identifier(name) + (f".{identifier(column)}" if column else "")
    con.execute(f"COMMENT ON {'COLUMN' if column else kind} {target} IS {literal(text)}")


def session(lake: Lake | None, catalog: Catalog | None = None,
            memory_limit: str = MEMORY_LIMIT,
            policy_files: policy.PolicyFiles = policy.NO_POLICY) -> duckdb.DuckDBPyConnection:
    """An in-memory connection with everything installed: what models, the report and
    ad hoc analysis run in. In memory, so parallel runs never contend for a file; within
    `memory_limit` (e.g. '1GB'), beyond which DuckDB spills to a temporary folder of its
    own rather than fail or grow with the day. `policy_files`: what the security models
    check requests against (none: every policy table empty)."""
    catalog = catalog or load()
    shapes = compiled(catalog).empty  # the headers are checked before anything runs
    con = connect(lake)
    bound_memory(con, memory_limit)
    install(con, lake, catalog, shapes, persistent=False, policy_files=policy_files)
    return con


def bound_memory(con: duckdb.DuckDBPyConnection, memory_limit: str) -> None:
    """Cap DuckDB's memory and give it a spill folder of this session's own. DuckDB makes
    the folder only if it spills and removes it when the connection closes, so a process
    that dies without running its exit hooks (a killed Dagster step) leaves nothing."""
    if not _SIZE.fullmatch(memory_limit.strip()):
        raise ValueError(f"memory limit {memory_limit!r} is not a size: write it like 1GB "
                         "or 512MB")
    spill = os.path.join(tempfile.gettempdir(), f"s3logs-duckdb-{uuid.uuid4().hex}")
    con.execute(f"SET memory_limit = {literal(memory_limit.strip())}")
    con.execute(f"SET temp_directory = {literal(spill)}")


def query(con: duckdb.DuckDBPyConnection, model: Model, start: str | None = None,
          end: str | None = None, **params) -> duckdb.DuckDBPyRelation:
    """The model's (or query's) SELECT with its parameters bound."""
    return con.sql(model.body, params=model.bind(start, end, **params))


def install(con: duckdb.DuckDBPyConnection, lake: Lake | None, catalog: Catalog,
            shapes: dict[str, pa.Table] | None = None, persistent: bool = True,
            policy_files: policy.PolicyFiles = policy.NO_POLICY) -> None:
    """Create the lake's tables and the catalog's objects in `con`, each after the objects
    its SQL names. A reference that scan misses fails with a catalog error and is tried
    again in a next round; one that never appears, or any other SQL error, is reported
    naming the file. `shapes`: each model's result shape, if known; `persistent`: `con`
    is a database file, so lake folders become read_parquet views."""
    for table in LAKE_TABLES.values():
        _lake_folder(con, lake, table.folder, table.name, table.schema, persistent)
    for name, table in policy.tables(policy_files).items():
        con.from_arrow(table).create(name)
    for model in catalog.of(Kind.SEED):
        con.from_arrow(seed_table(catalog, model)).create(model.name)
    pending = catalog.ordered(Kind.MACRO, Kind.VIEW, Kind.MODEL)
    while pending:
        waiting, first_error = [], None
        for model in pending:
            try:
                _create(con, lake, model, (shapes or {}).get(model.name), persistent)
            except duckdb.CatalogException as e:
                waiting.append(model)
                first_error = first_error or (model, e)
            except duckdb.Error as e:
                raise CatalogError(f"{model.path}: {str(e).splitlines()[0]}") from None
        if len(waiting) == len(pending):
            model, e = first_error
            raise CatalogError(f"{model.path}: {str(e).splitlines()[0]}")
        pending = waiting


def refresh(con: duckdb.DuckDBPyConnection, lake: Lake, catalog: Catalog,
            model: Model) -> None:
    """Show the session a model's results as the lake holds them now (after a run wrote
    them), for the models that read them later in the same session."""
    with contextlib.suppress(duckdb.Error):
        con.unregister(model.name)
    con.execute(f"DROP TABLE IF EXISTS {identifier(model.name)}")
    _lake_folder(con, lake, f"marts/{model.name}", model.name,
                 compiled(catalog).empty[model.name].schema, persistent=False)


def seed_table(catalog: Catalog, model: Model) -> pa.Table:
    types = {c: _TYPES[t] for c, t in model.seed_types.items()}
    table = pacsv.read_csv(io.BytesIO(catalog.read_bytes(model.seed_file)),
                           convert_options=pacsv.ConvertOptions(column_types=types,
                                                                strings_can_be_null=True))
    if table.column_names != list(model.seed_types):
        raise CatalogError(f"{model.seed_file}: its header row must be "
                           f"{','.join(model.seed_types)} (as {model.path} declares)")
    return table


def _lake_folder(con, lake: Lake | None, folder: str, name: str, schema: pa.Schema | None,
                 persistent: bool) -> bool:
    """`name` over the lake folder's Parquet files (hive partitions as text), or an empty
    table of `schema` when the folder holds no file yet. False if neither can be made."""
    if lake is not None and persistent and lake.files(folder):
        glob = f"{glob_literal(lake.display(lake.path(folder)))}/**/*.parquet"
        con.sql(session_sql("read_lake_folder"), params={"glob": glob}).create_view(
            name, replace=True)
        return True
    if lake is not None and not persistent and schema is not None and mount(
            con, lake, folder, name, schema):
        return True
    if schema is not None:
        con.from_arrow(schema.empty_table()).create(name)
        return True
    return False


def mount(con: duckdb.DuckDBPyConnection, lake: Lake, folder: str, name: str,
          schema: pa.Schema) -> bool:
    """`name` as a temporary view over the lake folder's Arrow dataset (one listing,
    pruned by partition, no file opened to bind); False when the folder does not exist.
    DuckDB reads it through Arrow, so it needs no file access of its own."""
    try:
        con.register(name, lake.dataset(folder, schema))
    except FileNotFoundError:
        return False
    return True


def _create(con, lake: Lake | None, model: Model, shape: pa.Table | None,
            persistent: bool) -> None:
    if model.kind == Kind.MACRO:
        con.execute(model.body)
    elif model.kind == Kind.VIEW:
        con.sql(model.body).create_view(model.name, replace=True)
    elif not _lake_folder(con, lake, f"marts/{model.name}", model.name,
                          None if shape is None else shape.schema, persistent):
        # not computed yet, shape unknown: the model's own result, bound, without rows
        query(con, model, _PLACEHOLDER_DAY, _PLACEHOLDER_DAY).limit(0).create(model.name)


@cache
def _compile(catalog: Catalog) -> Compiled:
    con = connect()
    try:
        install(con, None, catalog)
        out, empty = {}, {}
        for model in catalog.models.values():
            if model.kind == Kind.MACRO:
                continue
            try:
                rel = (query(con, model, _PLACEHOLDER_DAY, _PLACEHOLDER_DAY)
                       if model.kind == Kind.QUERY else con.table(model.name))
            except duckdb.Error as e:
                raise CatalogError(f"{model.path}: {str(e).splitlines()[0]}") from None
            types = [str(t) for t in rel.types]
            out[model.name] = _documented(model, rel.columns, types)
            if model.kind == Kind.MODEL:
                if types[rel.columns.index("dt")] != "VARCHAR":
                    raise CatalogError(f"{model.path}: dt must be the day as text, "
                                       "'YYYY-MM-DD' (select the lake's dt as it is)")
                empty[model.name] = rel.limit(0).to_arrow_table()
        return Compiled(out, empty)
    finally:
        con.close()


def compiled(catalog: Catalog | None = None) -> Compiled:
    """The catalog compiled against an empty lake. Compiling is what checks the headers
    against the SQL: a column without a doc, or a doc for a column the SQL does not
    return, is an error naming the file. Done once per catalog and process."""
    return _compile(catalog or load())


def columns(catalog: Catalog | None = None) -> dict[str, list[Column]]:
    """Each seed, view, model and query's output columns with their types and docs."""
    return compiled(catalog).columns


def _documented(model: Model, names: list[str], types: list[str]) -> list[Column]:
    # a view over the records passes their columns through: the schema documents those
    inherited = {}
    if model.kind == Kind.VIEW and "lake_access_logs" in model.tables:
        inherited = LAKE_TABLES["lake_access_logs"].docs
    missing = [c for c in names if c not in model.columns and c not in inherited]
    if missing:
        raise CatalogError(f"{model.path}: column {missing[0]} has no entry in "
                           "column_descriptions: add `" + missing[0] + " = 'what it means'`")
    extra = [c for c in model.columns if c not in names]
    if extra:
        raise CatalogError(f"{model.path}: column_descriptions names {extra[0]}, which the "
                           f"SQL does not return (it returns {', '.join(names)})")
    return [Column(n, t, model.columns.get(n) or inherited[n]) for n, t in zip(names, types)]
