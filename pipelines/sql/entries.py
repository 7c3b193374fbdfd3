"""What one SQL file of the catalog is, once its header is read: plain data the catalog,
the runner, the audits and the assets share. `modelfile` builds these from a file, and
`catalog` holds them; kept apart from both so neither has to import the other's helpers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum


class Kind(StrEnum):
    MODEL = "INCREMENTAL_BY_TIME_RANGE"
    VIEW = "VIEW"
    SEED = "SEED"
    MACRO = "MACRO"
    QUERY = "QUERY"


class CatalogError(ValueError):
    """A SQL file's header is wrong; the message names the file and says what to fix."""


DAY_PARAMETERS = ("start_date", "end_date")
# Where an entry's SQL runs (its header's `engines`, default duckdb only): DuckDB runs it as
# written; pipelines.sql.dialects renders it for the others (Spark runs models with
# `s3logs models run --engine spark`; Trino, Athena's engine, gets the analyst view).
ENGINES = ("duckdb", "spark", "trino")


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


class AuditKind(StrEnum):
    NOT_NULL = "not_null"                  # no null in these columns
    ACCEPTED_VALUES = "accepted_values"    # the column holds only these values (or null)
    ROW_COUNT_MIN = "row_count_min"        # every day with records has at least N rows


@dataclass(frozen=True)
class Audit:
    """A rule a model's header declares about the rows it writes, checked on every run's
    days: the header is where a reader of the model looks for what holds of its rows, so
    the rule lives beside its grain, not in a test or a Dagster file."""

    model: str
    kind: AuditKind
    columns: tuple[str, ...] = ()                  # not_null: its columns; else the one
    values: tuple[str | int | float, ...] = ()     # accepted_values
    minimum: int = 0                               # row_count_min

    @property
    def name(self) -> str:
        """The check's name, unique within the model: <model>_<kind>, and the column for
        accepted_values (a model may declare it for several columns)."""
        column = f"_{self.columns[0]}" if self.kind == AuditKind.ACCEPTED_VALUES else ""
        return f"{self.model}_{self.kind}{column}"

    def describe(self) -> str:
        if self.kind == AuditKind.NOT_NULL:
            return f"No null in {', '.join(self.columns)}."
        if self.kind == AuditKind.ACCEPTED_VALUES:
            return (f"{self.columns[0]} is one of "
                    f"{', '.join(repr(v) for v in self.values)} (or null).")
        rows = f"{self.minimum:,} row" + ("s" if self.minimum > 1 else "")
        return f"Every day of the run with records has at least {rows}."


@dataclass(frozen=True)
class Model:
    """One SQL file: what its header declares, its SQL body, and what the SQL reads."""

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
    audits: tuple[Audit, ...] = ()
    tables: frozenset[str] = frozenset()   # the tables and views its SQL reads
    calls: frozenset[str] = frozenset()    # the functions its SQL calls (macros among them)
    engines: tuple[str, ...] = ("duckdb",)  # where its SQL runs (header `engines`)

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
