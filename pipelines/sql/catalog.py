"""The SQL catalog: every `*.sql` file under the SQL folder, described by its MODEL header.

The files are the registry: nothing in Python lists models. Each header says what the file
is (`kind`), its name (the file's name), a description, the parameters it takes with their
defaults, its grain, and a comment for every output column. The runner, the warehouse,
the Dagster assets, `s3logs query` and the README's model table all read them from here.

Kinds (SQLMesh's names where SQLMesh has one):
  INCREMENTAL_BY_TIME_RANGE (time_column dt)  a model: a SELECT over a range of days
                          ($start_date, $end_date) whose rows carry `dt`; written to the lake
                          per day, one Dagster asset each, its grain audited on every run
  VIEW                    a SELECT the warehouse and the model sessions keep as a view
  SEED (path 'x.csv')     a CSV beside the file, loaded as a table (`columns` gives types)
  MACRO                   a CREATE MACRO statement (scalar or table macro)
  QUERY                   a parameterised SELECT that the report or the demo runs

The lake's own tables (`lake_access_logs`, `quarantine`) are not files here: their columns
are the record schema, documented in `pipelines.parsing.logformat` and
`pipelines.lake.store`. Folders whose name starts with `_` hold SQL that the session
itself runs, not models.

The SQL folder ships inside the package (`s3logs_sql`, read through importlib.resources).
A team's own folder (`load(extra=...)`: the CLI's S3LOGS_SQL_DIR, a Dagster deployment's
`sql_dir`) adds to it: its models join the packaged ones, one named as a packaged model
replaces it, and a file at a packaged file's path (a seed's CSV) is read instead of it, so
a team's model never means forking the seeds and prices.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from pipelines.sql.sqlheader import Call, HeaderError, Name, Pair, parse


class Kind(StrEnum):
    MODEL = "INCREMENTAL_BY_TIME_RANGE"
    VIEW = "VIEW"
    SEED = "SEED"
    MACRO = "MACRO"
    QUERY = "QUERY"


class CatalogError(ValueError):
    """A SQL file's header is wrong; the message names the file and says what to fix."""


DAY_PARAMETERS = ("start_date", "end_date")
_IDENT = re.compile(r"[a-z_][a-z0-9_]*")
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_STRINGS_AND_COMMENTS = re.compile(r"'(?:[^']|'')*'|--[^\n]*")
_ALLOWED = {  # property -> kinds that take it (name, kind, description: every kind)
    "column_descriptions": {Kind.MODEL, Kind.VIEW, Kind.SEED, Kind.QUERY},
    "grain": {Kind.MODEL},
    "nullable": {Kind.MODEL},
    "parameters": {Kind.MODEL, Kind.QUERY},
    "window": {Kind.MODEL},
    "columns": {Kind.SEED},
}
_SEED_TYPES = ("VARCHAR", "TEXT", "DOUBLE", "BIGINT", "INTEGER", "BOOLEAN", "DATE")


@dataclass(frozen=True)
class Window:
    """Which days a model reads: its own, and for a baseline or a month to date the days
    before them, from the results of the models it reads (never older records). The
    runner computes those results first where a day has records but none yet."""

    days: int | str = 0    # days before its first day: a number, or a parameter's name
    month: bool = False    # from the first of its first day's month
    every: bool = False    # every earlier day (a small mart's whole history)

    def first_day(self, start: date, bound: dict) -> date:
        """The first day whose results it reads (every: its own; the history is whatever
        exists, nothing is computed first)."""
        if self.month:
            return start.replace(day=1)
        return start - timedelta(days=self.days_before(bound) or 0)

    def days_before(self, bound: dict) -> int | None:
        """At most how many days before its own it reads (a month: 30); None for every."""
        if self.every:
            return None
        if self.month:
            return 30
        return int(bound[self.days]) if isinstance(self.days, str) else self.days

    def describe(self) -> str:
        if self.every:
            return "every day up to its days"
        if self.month:
            return "the month to its days"
        if isinstance(self.days, str):
            return f"its days and the `{self.days}` days before"
        if self.days:
            return f"its days and the {self.days} days before"
        return "its days"


@dataclass(frozen=True)
class Model:
    """One SQL file: what its header declares and its SQL body."""

    name: str
    kind: Kind
    path: str                        # under the SQL folder, e.g. usage/usage_daily.sql
    description: str
    body: str
    columns: dict[str, str] = field(default_factory=dict)   # column -> doc, header order
    grain: tuple[str, ...] = ()
    nullable: tuple[str, ...] = ()   # grain columns that may be null (compared as values)
    parameters: dict[str, object] = field(default_factory=dict)  # name -> default
    seed_file: str | None = None     # SEED: the CSV, under the SQL folder
    seed_types: dict[str, str] = field(default_factory=dict)
    takes_days: bool = False         # its SQL reads $start_date and $end_date
    window: Window = Window()

    @property
    def subject(self) -> str:
        """The folder the file is in (usage, billing, security, ...)."""
        return self.path.split("/")[0] if "/" in self.path else ""

    def bind(self, start: str | None = None, end: str | None = None, **values) -> dict:
        """The bound parameters of a run: the day range and the declared parameters
        (defaults unless given). Refuses a parameter the header does not declare."""
        unknown = set(values) - set(self.parameters)
        if unknown:
            raise CatalogError(f"{self.path} takes no parameter {sorted(unknown)[0]!r} "
                               f"(it declares {sorted(self.parameters) or 'none'})")
        bound = {**self.parameters, **values}
        if self.takes_days:
            if start is None or end is None:
                raise CatalogError(f"{self.path} needs a day range to run")
            bound |= {"start_date": start, "end_date": end}
        return bound

    def parameter(self, name: str, text: str) -> object:
        """A parameter given as text (command line), typed like its default."""
        if name not in self.parameters:
            raise CatalogError(f"{self.path} takes no parameter {name!r} "
                               f"(it declares {sorted(self.parameters) or 'none'})")
        kind = type(self.parameters[name])
        try:
            return kind(text)
        except ValueError:
            raise CatalogError(f"{self.path}: parameter {name} is a {kind.__name__}, "
                               f"not {text!r}") from None


@dataclass(frozen=True, eq=False)  # compared and hashed by identity: load() caches it
class Catalog:
    root: Traversable
    models: dict[str, Model]
    extra: Traversable | None = None  # a team's folder, read before `root`

    def read_bytes(self, path: str) -> bytes:
        """A file under the SQL folders, e.g. a seed's CSV: the team's, if it has one."""
        for folder in (self.extra, self.root):
            file = folder
            for part in path.split("/") if folder is not None else ():
                file = file / part
            if folder is not None and file.is_file():
                return file.read_bytes()
        raise CatalogError(f"no file {path} in {self.extra or self.root}")

    def of(self, *kinds: Kind) -> list[Model]:
        return [m for m in self.models.values() if m.kind in kinds]

    def __getitem__(self, name: str) -> Model:
        try:
            return self.models[name]
        except KeyError:
            raise CatalogError(f"no SQL model named {name!r} in {self.root} (there are "
                               f"{', '.join(sorted(self.models))})") from None

    def reads(self, model: Model, *kinds: Kind) -> list[str]:
        """The entries of `kinds` whose names the model's SQL mentions, directly or through
        the views and macros it reads: what must be computed before it."""
        seen: set[str] = set()
        todo = [model]
        while todo:
            words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", _strip(todo.pop().body)))
            for other in self.models.values():
                if other.name in words and other.name not in seen and other is not model:
                    seen.add(other.name)
                    if other.kind in (Kind.VIEW, Kind.MACRO):
                        todo.append(other)
        return sorted(n for n in seen if self.models[n].kind in kinds)

    def ordered(self, *kinds: Kind) -> list[Model]:
        """The entries of `kinds`, each after the entries it reads (where it can tell)."""
        done: list[Model] = []

        def visit(m: Model, path: tuple[str, ...]) -> None:
            if m in done or m.name in path:
                return
            for name in self.reads(m, *kinds):
                visit(self.models[name], (*path, m.name))
            done.append(m)

        for m in self.of(*kinds):
            visit(m, ())
        return done

    def markdown_table(self) -> str:
        """The models as a Markdown table (the README embeds it; a test keeps them equal)."""
        rows = ["| model | grain | reads | parameters | what |", "|---|---|---|---|---|"]
        for m in self.of(Kind.MODEL):
            params = ", ".join(f"`{k}` = {v}" for k, v in m.parameters.items()) or "-"
            rows.append(f"| `{m.name}` | {', '.join(m.grain)} | {m.window.describe()} "
                        f"| {params} | {m.description} |")
        return "\n".join(rows)


def sql_root() -> Traversable:
    """The SQL folder shipped in the package."""
    return resources.files("s3logs_sql")


def load(root: Traversable | None = None, extra: str | Path | None = None) -> Catalog:
    """Read and check every header under `root` (default: the package's folder) and, if
    given, a team's folder `extra`, which adds models and replaces those of the same name.
    The files are read each time; what they hold is parsed once, so an edited file is seen
    at once."""
    root = root or sql_root()
    files = _read(root)
    if not files:
        raise CatalogError(f"{root} holds no SQL files: point at a folder of models")
    more = None
    if extra:
        more = Path(extra)
        if not more.is_dir() or not _read(more):
            raise CatalogError(f"{more} holds no SQL files: point S3LOGS_SQL_DIR (or the "
                               "sql_dir setting) at a folder of your models, or unset it")
    return _load(root, files, more, _read(more) if more else ())


def _read(root: Traversable) -> tuple[tuple[str, str], ...]:
    return tuple((path, file.read_text(encoding="utf-8"))
                 for path, file in sorted(_sql_files(root)))


def session_sql(name: str) -> str:
    """SQL the session itself runs (`_session/NAME.sql` of the package), not a model."""
    return (resources.files("s3logs_sql") / "_session" / f"{name}.sql").read_text()


@cache
def _load(root: Traversable, files: tuple[tuple[str, str], ...], extra: Path | None,
          extra_files: tuple[tuple[str, str], ...]) -> Catalog:
    packaged, team = _models(files), _models(extra_files)
    return Catalog(root, {**packaged, **team}, extra)  # the team's replace the package's


def _models(files: tuple[tuple[str, str], ...]) -> dict[str, Model]:
    models: dict[str, Model] = {}
    for path, text in files:
        model = _model(path, text)
        if model.name in models:
            raise CatalogError(f"{path}: the name {model.name} is taken by "
                               f"{models[model.name].path}")
        models[model.name] = model
    return models


def _sql_files(folder: Traversable, prefix: str = ""):
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.name.startswith(("_", ".")):
            yield from _sql_files(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(".sql"):
            yield f"{prefix}{entry.name}", entry


def _strip(sql: str) -> str:
    return _STRINGS_AND_COMMENTS.sub(" ", sql)


def _model(path: str, text: str) -> Model:
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
    _check_body(path, kind, name, body, parameters, fail)
    seed_types = _pairs(props.get("columns", []), lambda v: isinstance(v, Name), fail,
                        "columns", "column TYPE")
    if kind == Kind.SEED:
        bad = {t for t in seed_types.values() if t.upper() not in _SEED_TYPES}
        if bad or not seed_types:
            raise fail("columns", f"a SEED needs columns (name TYPE, ...) with types among "
                                  f"{', '.join(_SEED_TYPES)}")
        if set(seed_types) != set(columns):
            raise fail("columns", "columns and column_descriptions must name the same columns")
    window = _window(props.get("window", []), parameters, fail)
    folder = Path(path).parent
    return Model(name=str(name), kind=kind, path=path, description=description, body=body,
                 columns=columns, grain=grain, nullable=nullable, parameters=parameters,
                 seed_file=(folder / options["path"]).as_posix() if kind == Kind.SEED else None,
                 seed_types={k: v.upper() for k, v in seed_types.items()},
                 takes_days=bool(set(_PARAM.findall(_strip(body))) & set(DAY_PARAMETERS)),
                 window=window)


def _window(value, parameters: dict, fail) -> Window:
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


def _kind(value, fail) -> tuple[Kind, dict[str, str]]:
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


def _pairs(value, valid, fail, prop: str, form: str) -> dict:
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


def _names(value, fail, prop: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
            isinstance(v, Name) and _IDENT.fullmatch(v) for v in value):
        raise fail(prop, f"{prop} is a list of lower-case column names, e.g. "
                         f"{prop} (dt, bucket)")
    return tuple(map(str, value))


def _check_body(path: str, kind: Kind, name: str, body: str, parameters: dict,
                fail) -> None:
    code = _strip(body)
    used = set(_PARAM.findall(code))
    if kind == Kind.SEED:
        if code.strip():
            raise fail("kind", "a SEED file holds only its header (the rows are in the CSV)")
        return
    if not code.strip():
        raise fail("kind", "the SQL after the header is empty")
    if ";" in code:
        raise fail("kind", "the SQL after the header must be one statement")
    if kind == Kind.MACRO:
        if not re.match(rf"\s*CREATE\s+(OR\s+REPLACE\s+)?MACRO\s+{name}\s*\(", code, re.I):
            raise fail("kind", f"a MACRO file holds `CREATE OR REPLACE MACRO {name}(...) AS ...`")
    elif not re.match(r"\s*(SELECT|WITH|FROM)\b", code, re.I):
        raise fail("kind", f"a {kind} is one SELECT statement")
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


if __name__ == "__main__":
    print(load().markdown_table())
