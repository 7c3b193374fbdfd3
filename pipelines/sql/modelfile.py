"""One SQL file read into a `Model`: its header's properties checked against what its kind
takes, and its SQL parsed (sqlglot) for what it reads and the parameters it binds.

Every problem is a `CatalogError` of one sentence naming the file, the line and what to
write instead: a header is written by hand, and the person who wrote it reads the error.
`sqlheader` reads the header's shape; this module decides what the properties mean.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from pipelines.sql import lineage
from pipelines.sql.entries import (
    DAY_PARAMETERS,
    ENGINES,
    Audit,
    AuditKind,
    CatalogError,
    Kind,
    Model,
    Window,
)
from pipelines.sql.sqlheader import Call, Header, HeaderError, Name, Pair, parse

Fail = Callable[[str, str], CatalogError]  # (property, message) -> the error to raise

_IDENT = re.compile(r"[a-z_][a-z0-9_]*")
_ALLOWED = {  # property -> kinds that take it (name, kind, description: every kind)
    "column_descriptions": {Kind.MODEL, Kind.VIEW, Kind.SEED, Kind.QUERY},
    "grain": {Kind.MODEL},
    "nullable": {Kind.MODEL},
    "audits": {Kind.MODEL},
    "parameters": {Kind.MODEL, Kind.QUERY},
    "window": {Kind.MODEL},
    "columns": {Kind.SEED},
    "engines": {Kind.MODEL, Kind.VIEW, Kind.MACRO},
}
_SEED_TYPES = ("VARCHAR", "TEXT", "DOUBLE", "BIGINT", "INTEGER", "BOOLEAN", "DATE")
_AUDIT_FORMS = ("not_null (column, ...), accepted_values (column, ('value', ...)) "
                "or row_count_min (N)")


def read_model(path: str, text: str) -> Model:
    """The file at `path` (under the SQL folder) whose text is `text`, checked."""
    try:
        header = parse(text)
    except HeaderError as e:
        raise CatalogError(f"{path}: {e}") from None
    props, lines = header.properties, header.lines

    def fail(prop: str, message: str) -> CatalogError:
        return CatalogError(f"{path}: line {lines.get(prop, 1)}: {message}")

    for required in ("name", "kind", "description"):
        if required not in props:
            raise CatalogError(f"{path}: the header needs `{required}`")
    name, description = props["name"], props["description"]
    if not isinstance(name, Name) or not _IDENT.fullmatch(name):
        raise fail("name", "name must be a lower-case identifier such as usage_daily")
    if name != Path(path).stem:
        raise fail("name", f"name {name} must be the file's name ({Path(path).stem})")
    if not _text(description):
        raise fail("description", "description must be a 'quoted sentence'")
    kind, options = _kind(props["kind"], fail)
    for prop in props:
        if prop not in ("name", "kind", "description") and kind not in _ALLOWED.get(prop, ()):
            raise fail(prop, f"a {kind} takes no `{prop}` (it takes "
                             + ", ".join(p for p, k in _ALLOWED.items() if kind in k) + ")")
    columns = _pairs(props.get("column_descriptions", []), _text, fail,
                     "column_descriptions", "column = 'what it means'")
    if kind in _ALLOWED["column_descriptions"] and not columns and kind != Kind.VIEW:
        raise fail("kind", "the header needs column_descriptions (column = 'what it means')")
    parameters = _pairs(props.get("parameters", []), _default, fail, "parameters",
                        "name = default (a number or a 'quoted text')")
    grain = _names(props.get("grain", []), fail, "grain")
    nullable = _names(props.get("nullable", []), fail, "nullable")
    if kind == Kind.MODEL:
        if "dt" not in grain:
            raise fail("grain", "grain must list the model's columns that identify a row, "
                                "dt among them, e.g. grain (dt, bucket)")
        if "dt" in nullable:
            raise fail("nullable", "dt cannot be nullable: every row belongs to a day")
        for col in grain:
            if col not in columns:
                raise fail("grain", f"grain column {col} has no column description")
    if set(nullable) - set(grain):
        raise fail("nullable", "nullable may only name grain columns")
    body = header.body.strip().removesuffix(";").strip()
    statement = _check_body(path, header, kind, name, parameters, fail)
    seed_types = _pairs(props.get("columns", []), lambda v: isinstance(v, Name), fail,
                        "columns", "column TYPE")
    if kind == Kind.SEED:
        bad = {t for t in seed_types.values() if t.upper() not in _SEED_TYPES}
        if bad or not seed_types:
            raise fail("columns", f"a SEED needs columns (name TYPE, ...) with types among "
                                  f"{', '.join(_SEED_TYPES)}")
        if set(seed_types) != set(columns):
            raise fail("columns", "columns and column_descriptions must name the same columns")
    folder = Path(path).parent
    used = statement.parameters if statement else frozenset()
    return Model(name=str(name), kind=kind, path=path, description=description, body=body,
                 columns=columns, grain=grain, nullable=nullable, parameters=parameters,
                 seed_file=(folder / options["path"]).as_posix() if kind == Kind.SEED else None,
                 seed_types={k: v.upper() for k, v in seed_types.items()},
                 takes_days=bool(used & set(DAY_PARAMETERS)),
                 window=_window(props.get("window", []), parameters, fail),
                 audits=_audits(props.get("audits", []), str(name), columns, nullable, fail),
                 tables=statement.tables if statement else frozenset(),
                 calls=statement.calls if statement else frozenset(),
                 engines=_engines(props.get("engines"), fail))


def _engines(value, fail: Fail) -> tuple[str, ...]:
    """The header's `engines (duckdb, spark)`: known engines, DuckDB among them (the
    catalog is compiled and checked in DuckDB), each once; absent, DuckDB only."""
    if value is None:
        return ("duckdb",)
    names = [str(v) for v in value if isinstance(v, Name)] if isinstance(value, list) else []
    unknown = [n for n in names if n not in ENGINES]
    if not names or len(names) != len(value) or unknown or "duckdb" not in names \
            or len(set(names)) != len(names):
        what = ("engines is a list of engine names" if not names or len(names) != len(value)
                else f"engine {unknown[0]} is not one of {', '.join(ENGINES)}" if unknown
                else "engines must name duckdb (the catalog is compiled in DuckDB)"
                if "duckdb" not in names else "engines names an engine twice")
        raise fail("engines", f"{what}: write e.g. engines (duckdb, spark)")
    return tuple(sorted(names, key=ENGINES.index))


def _window(value, parameters: dict, fail: Fail) -> Window:
    if value == []:
        return Window()
    if value == [Name("month")]:
        return Window(month=True)
    if value == [Name("all")]:
        return Window(every=True)
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], Pair) \
            and value[0].key == "days":
        days = value[0].value
        if isinstance(days, int) and days >= 0:
            return Window(days=days)
        if isinstance(days, Name) and isinstance(parameters.get(days), int):
            return Window(days=str(days))
    raise fail("window", "window is (month), (all), (days = N) or (days = PARAMETER) "
                         "naming a whole-number parameter: the days before its own it reads")


def _audits(value, model: str, columns: dict, nullable: tuple[str, ...],
            fail: Fail) -> tuple[Audit, ...]:
    """The header's `audits (...)`: each a name with its arguments, on declared columns."""
    if not isinstance(value, list) or not all(isinstance(a, Call) for a in value):
        raise fail("audits", f"audits is a list of {_AUDIT_FORMS}")
    audits: list[Audit] = []
    for call in value:
        try:
            kind = AuditKind(call.name)
        except ValueError:
            raise fail("audits", f"audit {call.name} is not one of "
                                 f"{', '.join(AuditKind)}: write {_AUDIT_FORMS}") from None
        audit = _audit(model, kind, call.args, fail)
        for col in audit.columns:
            if col not in columns:
                raise fail("audits", f"audit {kind} names {col}, which column_descriptions "
                                     "does not declare: name one of the model's columns")
            if kind == AuditKind.NOT_NULL and col in nullable:
                raise fail("audits", f"audit not_null names {col}, which nullable allows to "
                                     "be null: drop it from one of the two")
        if any(a.name == audit.name for a in audits):
            raise fail("audits", f"audits declares {audit.name} twice: "
                                 + ("list every column in one not_null (...)"
                                    if kind == AuditKind.NOT_NULL else "keep one"))
        audits.append(audit)
    return tuple(audits)


def _audit(model: str, kind: AuditKind, args: list, fail: Fail) -> Audit:
    if kind == AuditKind.NOT_NULL:
        if args and all(isinstance(a, Name) and _IDENT.fullmatch(a) for a in args):
            return Audit(model, kind, columns=tuple(map(str, args)))
        raise fail("audits", "not_null takes the columns that must hold no null, e.g. "
                             "not_null (dt, bucket)")
    if kind == AuditKind.ACCEPTED_VALUES:
        if len(args) == 2 and isinstance(args[0], Name) and isinstance(args[1], list) \
                and args[1] and all(_default(v) for v in args[1]):
            return Audit(model, kind, columns=(str(args[0]),), values=tuple(args[1]))
        raise fail("audits", "accepted_values takes a column and its values, e.g. "
                             "accepted_values (severity, ('low', 'high'))")
    if len(args) == 1 and isinstance(args[0], int) and args[0] >= 1:
        return Audit(model, kind, minimum=args[0])
    raise fail("audits", "row_count_min takes the rows every day must have at least, a "
                         "whole number from 1, e.g. row_count_min (1)")


def _kind(value, fail: Fail) -> tuple[Kind, dict[str, str]]:
    name = value.name if isinstance(value, Call) else value
    try:
        kind = Kind(str(name).upper())
    except ValueError:
        raise fail("kind", f"kind {name} is not one of {', '.join(Kind)}") from None
    options = {p.key: p.value for p in value.args if isinstance(p, Pair)} \
        if isinstance(value, Call) else {}
    needs = {Kind.MODEL: ("time_column", "dt"), Kind.SEED: ("path", None)}.get(kind)
    if needs and (needs[0] not in options or (needs[1] and options[needs[0]] != needs[1])):
        example = {Kind.MODEL: "INCREMENTAL_BY_TIME_RANGE (time_column dt)",
                   Kind.SEED: "SEED (path 'prices.csv')"}[kind]
        raise fail("kind", f"write the kind as {example}")
    return kind, {k: str(v) for k, v in options.items()}


def _text(value) -> bool:
    """A non-empty 'quoted string' (not a bare name)."""
    return isinstance(value, str) and not isinstance(value, Name) and bool(value.strip())


def _default(value) -> bool:
    return isinstance(value, (int, float)) or _text(value)


def _pairs(value, valid, fail: Fail, prop: str, form: str) -> dict:
    if not isinstance(value, list) or not all(
            isinstance(p, Pair) and valid(p.value) for p in value):
        raise fail(prop, f"{prop} is a list of `{form}`")
    out = {}
    for p in value:
        if p.key in out:
            raise fail(prop, f"{prop} names {p.key} twice")
        if not _IDENT.fullmatch(p.key):
            raise fail(prop, f"{p.key} is not a lower-case name (letters, digits, _)")
        out[p.key] = p.value
    return out


def _names(value, fail: Fail, prop: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
            isinstance(v, Name) and _IDENT.fullmatch(v) for v in value):
        raise fail(prop, f"{prop} is a list of lower-case column names, e.g. "
                         f"{prop} (dt, bucket)")
    return tuple(map(str, value))


def _check_body(path: str, header: Header, kind: Kind, name: str, parameters: dict,
                fail: Fail) -> lineage.Statement | None:
    """The body's one statement, parsed, if it is what the kind needs; None for a SEED."""
    try:
        statements = lineage.read(header.body)
    except lineage.SqlError as e:
        raise CatalogError(f"{path}: line {header.body_line + e.line - 1}: {e}: write the "
                           "SQL in DuckDB's syntax") from None
    if kind == Kind.SEED:
        if statements:
            raise fail("kind", "a SEED file holds only its header (the rows are in the CSV)")
        return None
    if not statements:
        raise fail("kind", "the SQL after the header is empty")
    if len(statements) > 1:
        raise fail("kind", "the SQL after the header must be one statement")
    (statement,) = statements
    if kind == Kind.MACRO:
        if statement.macro != name:
            raise fail("kind", f"a MACRO file holds `CREATE OR REPLACE MACRO {name}(...) AS ...`")
    elif not statement.query:
        raise fail("kind", f"a {kind} is one SELECT statement")
    used = statement.parameters
    allowed = set(parameters)
    if kind in (Kind.MODEL, Kind.QUERY):
        allowed |= set(DAY_PARAMETERS)
    if used - allowed:
        what = f"the SQL uses ${sorted(used - allowed)[0]}, which the header does not declare"
        raise fail("parameters", what + (": add it to parameters (name = default)"
                                         if kind in _ALLOWED["parameters"]
                                         else f": a {kind} takes no parameters"))
    if set(parameters) - used:
        raise fail("parameters", f"parameter {sorted(set(parameters) - used)[0]} is declared "
                                 "but the SQL never uses it")
    if kind == Kind.MODEL and not set(DAY_PARAMETERS) <= used:
        raise fail("kind", "a model selects its days with $start_date and $end_date")
    return statement
