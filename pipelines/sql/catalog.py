"""The SQL catalog: every `*.sql` file under the SQL folder, described by its MODEL header.

The files are the registry: nothing in Python lists models. Each header says what the file
is (`kind`), its name (the file's name), a description, the parameters it takes with their
defaults, its grain, the audits its rows must pass, the engines its SQL runs on
(`engines`, default DuckDB only; `Catalog.engines`), and a comment for every output
column. The runner, the warehouse, the Dagster assets, `s3logs query` and the README's
model table all read them from here. `modelfile` reads and checks one file into a `Model`
(`entries`); what its SQL reads comes from its syntax tree (`lineage`), and the catalog
turns those names into dependencies between its entries (`reads`, `ordered`).

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

from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

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
from pipelines.sql.modelfile import read_model

# the catalog's vocabulary, defined in `entries`, is imported from here by its users
__all__ = ["DAY_PARAMETERS", "ENGINES", "Audit", "AuditKind", "Catalog", "CatalogError", "Kind",
           "Model", "Window", "load", "session_sql", "sql_root"]


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
        """The entries of `kinds` the model's SQL reads, directly or through the views and
        macros it reads: what must be computed before it. A seed, view or model is read
        when the SQL reads it as a table, a macro when the SQL calls it (`lineage`)."""
        seen: set[str] = set()
        todo = [model]
        while todo:
            for other in self._direct_reads(todo.pop()):
                if other.name not in seen and other is not model:
                    seen.add(other.name)
                    if other.kind in (Kind.VIEW, Kind.MACRO):
                        todo.append(other)
        return sorted(n for n in seen if self.models[n].kind in kinds)

    def _direct_reads(self, model: Model) -> list[Model]:
        """The entries the model's own SQL reads (a query is never read: it is no table)."""
        return [other for other in self.models.values()
                if (other.name in model.calls if other.kind == Kind.MACRO
                    else other.name in model.tables and other.kind != Kind.QUERY)]

    def engines(self, model: Model) -> tuple[str, ...]:
        """The engines the model runs on: those its header names that every view, macro
        and model it reads names too (seeds are data: every engine loads them)."""
        reads = [self.models[n] for n in self.reads(model, Kind.VIEW, Kind.MACRO, Kind.MODEL)]
        return tuple(e for e in model.engines if all(e in m.engines for m in reads))

    def check_engine(self, model: Model, engine: str) -> None:
        """Refuse, in one sentence, to run the model on an engine it does not run on."""
        if engine in self.engines(model):
            return
        if engine not in model.engines:
            raise CatalogError(f"{model.path} does not run on {engine}: its header says "
                               f"engines ({', '.join(model.engines)})")
        lacking = next(n for n in self.reads(model, Kind.VIEW, Kind.MACRO, Kind.MODEL)
                       if engine not in self.models[n].engines)
        raise CatalogError(f"{model.path} does not run on {engine}: it reads {lacking} "
                           f"({self.models[lacking].path}), whose header says engines "
                           f"({', '.join(self.models[lacking].engines)})")

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
        """The models as a Markdown table (the README embeds it; make docs writes it)."""
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
        model = read_model(path, text)
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

