"""Run the SQL models over the lake and write their results back to it, on an engine.

A model (a `kind INCREMENTAL_BY_TIME_RANGE` file of the catalog) selects a range of days
with `$start_date` and `$end_date`, and its rows carry `dt`. The runner binds the range and
the model's parameters, audits the result against the declared grain, and only if it
passes replaces exactly the days it computed in
`LAKE/marts/<model>/dt=YYYY-MM-DD/part-00000.parquet` (a day with no rows loses its old
file): results that break their grain never replace good ones. Each day's rows are chosen
by their `dt`, whatever order the SQL returns them in, and sorted by the grain, so the
files are a pure function of the result: the same lake gives the same bytes.

A model whose window reaches before its days (a baseline, a month to date) reads those
earlier days from the results of the models it reads, never from their records: a daily
run costs what the day costs. Where an earlier day has records but no such result yet (a
backfill run out of order, a lake older than the model), the runner computes it first,
so the answer never depends on the order days were run in.

All of that is this module's, once, whatever the engine. An `Engine` only computes a
model's rows for a range of days as an Arrow table: `DuckDB` here (the default), `Spark`
in pipelines.sql.spark (imported only when asked for: pyspark is optional).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lake.store import Lake
from pipelines.security.policy import NO_POLICY, PolicyFiles
from pipelines.sql import checks
from pipelines.sql.catalog import Catalog, CatalogError, Kind, Model, load
from pipelines.sql.session import MEMORY_LIMIT, refresh, session
from pipelines.sql.session import query as bound_query


class ModelError(RuntimeError):
    """A model returned rows it should not have; the message names the file."""


@dataclass(frozen=True)
class ModelRun:
    model: str
    rows: int
    days: list[str]
    files: list[str]             # empty when the audit failed: the lake kept its days
    audit: checks.CheckResult
    filled: tuple[ModelRun, ...] = ()  # earlier days of the models it reads, computed first


class Engine(Protocol):
    """Where the runner computes a model's rows; the rest of a run is the runner's."""

    name: str  # as the headers' `engines (...)` name it

    def open(self, lake: Lake, catalog: Catalog, models: list[Model], first: date,
             last: date) -> AbstractContextManager[None]:
        """Ready, until the context ends, to compute `models` over the lake's records of
        first..last and whatever else they read (the results of the models they read)."""
        ...

    def query(self, model: Model, start: date, end: date, **params) -> pa.Table:
        """The model's rows for start..end, with the columns and types DuckDB compiles
        for it, sorted by its grain."""
        ...

    def refresh(self, model: Model) -> None:
        """Show the queries after this one the model's results as the lake holds them."""
        ...


class DuckDB:
    """The models in a DuckDB session: `con`, the caller's (who closes it), or one opened
    for the run within `memory_limit`, checking requests against `policy_files`."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection | None = None, *,
                 memory_limit: str = MEMORY_LIMIT, policy_files: PolicyFiles = NO_POLICY):
        self.con, self.memory_limit, self.policy_files = con, memory_limit, policy_files
        self.lake: Lake | None = None
        self.catalog: Catalog | None = None

    @contextmanager
    def open(self, lake: Lake, catalog: Catalog, models: list[Model], first: date,
             last: date) -> Iterator[None]:
        self.lake, self.catalog = lake, catalog
        if self.con is not None:
            yield
            return
        self.con = session(lake, catalog, self.memory_limit, self.policy_files)
        try:
            yield
        finally:
            self.con.close()
            self.con = None

    def query(self, model: Model, start: date, end: date, **params) -> pa.Table:
        return query(self.con, model, start, end, **params)

    def refresh(self, model: Model) -> None:
        refresh(self.con, self.lake, self.catalog, model)


def days_between(start: date, end: date) -> list[str]:
    return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def model_names(catalog: Catalog | None = None, engine: str = DuckDB.name) -> list[str]:
    """The models that run on `engine` (on DuckDB: every one), each after what it reads."""
    catalog = catalog or load()
    return [m.name for m in catalog.ordered(Kind.MODEL) if engine in catalog.engines(m)]


def query(con: duckdb.DuckDBPyConnection, model: Model | str, start: date, end: date,
          catalog: Catalog | None = None, **params) -> pa.Table:
    """The model's (or query's) rows for start..end, sorted by its grain when it has one."""
    if isinstance(model, str):
        model = (catalog or load())[model]
    table = bound_query(con, model, start.isoformat(), end.isoformat(),
                        **params).to_arrow_table()
    return checks.sort_by_grain(table, model)


def run_model(lake: Lake, name: str, start: date, end: date,
              con: duckdb.DuckDBPyConnection | None = None,
              catalog: Catalog | None = None, *, engine: Engine | None = None,
              memory_limit: str = MEMORY_LIMIT, policy_files: PolicyFiles = NO_POLICY,
              **params) -> ModelRun:
    """Compute the model for start..end, audit its grain, and if it passes replace those
    days in the lake. `engine`: where (default: DuckDB in `con`, else in a session of its
    own shaped by `memory_limit` and `policy_files`)."""
    catalog = catalog or load()
    engine = engine or DuckDB(con, memory_limit=memory_limit, policy_files=policy_files)
    models = _plan(catalog, [name], engine.name, {})  # its bind checks its params
    with engine.open(lake, catalog, models, _first_day(models, start, end, params), end):
        return _run(engine, lake, catalog, catalog[name], start, end, **params)


def run_models(lake: Lake, start: date, end: date, names: list[str] | None = None,
               catalog: Catalog | None = None, *, engine: Engine | None = None,
               memory_limit: str = MEMORY_LIMIT, policy_files: PolicyFiles = NO_POLICY,
               **params) -> dict[str, ModelRun]:
    """Several models (default: every one the engine runs) on one engine (default: one
    DuckDB session), each after the models it reads (whose fresh results it then sees),
    which run too; `params` go to the models that declare them."""
    catalog = catalog or load()
    engine = engine or DuckDB(memory_limit=memory_limit, policy_files=policy_files)
    order = _plan(catalog, names or model_names(catalog, engine.name), engine.name, params)
    runs = {}
    with engine.open(lake, catalog, order, _first_day(order, start, end, params), end):
        for model in order:
            runs[model.name] = _run(engine, lake, catalog, model, start, end,
                                    **_taken(model, params))
            if runs[model.name].files and any(model.name in catalog.reads(m, Kind.MODEL)
                                              for m in order):
                engine.refresh(model)
    return runs


def _plan(catalog: Catalog, names: list[str], engine: str, params: dict) -> list[Model]:
    """The models and those they read (and that those read...), each after what it
    reads; refused when one does not run on `engine` or none takes a parameter."""
    chosen = set(names)
    todo = list(chosen)
    while todo:
        for up in catalog.reads(catalog[todo.pop()], Kind.MODEL):
            if up not in chosen:
                chosen.add(up)
                todo.append(up)
    order = [m for m in catalog.ordered(Kind.MODEL) if m.name in chosen]
    for model in order:
        catalog.check_engine(model, engine)
    declared = {p for m in order for p in m.parameters}
    if set(params) - declared:
        raise CatalogError(f"no model among {', '.join(sorted(chosen))} takes the parameter "
                           f"{sorted(set(params) - declared)[0]!r}")
    return order


def _first_day(models: list[Model], start: date, end: date, params: dict) -> date:
    """The earliest day the models' windows reach back to, for start..end."""
    return min((m.window.first_day(start, m.bind(start.isoformat(), end.isoformat(),
                                                 **_taken(m, params))) for m in models),
               default=start)


def _taken(model: Model, params: dict) -> dict:
    return {k: v for k, v in params.items() if k in model.parameters}


def _run(engine: Engine, lake: Lake, catalog: Catalog, model: Model, start: date,
         end: date, **params) -> ModelRun:
    """One model for start..end on the open engine: the history its window lacks first,
    then its rows, checked, audited and, if they pass, written."""
    catalog.check_engine(model, engine.name)
    filled = fill_history(engine, lake, catalog, model, start, model.bind(
        start.isoformat(), end.isoformat(), **params))
    table = engine.query(model, start, end, **params)
    days = days_between(start, end)
    _check_days(model, table, days)
    audit = checks.grain(model, table)
    files = []
    if audit.passed:
        for day in days:
            rows = table.filter(pc.equal(table["dt"], day)).drop_columns(["dt"])
            files += lake.replace_table_partition(["marts", model.name, f"dt={day}"], rows)
    return ModelRun(model.name, table.num_rows, days, files, audit, tuple(filled))


def fill_history(engine: Engine, lake: Lake, catalog: Catalog, model: Model, start: date,
                 bound: dict) -> list[ModelRun]:
    """Compute the models `model` reads on the days of its window before `start` that
    have records but no results of theirs, and show the engine the results."""
    first = model.window.first_day(start, bound)
    if first >= start:
        return []
    recorded = recorded_days(lake, "access_logs") & set(
        days_between(first, start - timedelta(days=1)))
    runs = []
    for name in catalog.reads(model, Kind.MODEL):
        missing = sorted(recorded - recorded_days(lake, f"marts/{name}"))
        for a, b in _spans(missing):
            runs.append(_run(engine, lake, catalog, catalog[name], a, b))
        if missing:
            engine.refresh(catalog[name])
    return runs


def recorded_days(lake: Lake, folder: str) -> set[str]:
    """The days a lake folder has a dt= partition for, from one listing of the folder."""
    try:
        entries = lake.fs.ls(lake.path(folder), detail=False)
    except FileNotFoundError:
        return set()
    return {m.group(1) for e in entries
            if (m := re.search(r"(?:^|/)dt=([0-9]{4}-[0-9]{2}-[0-9]{2})$", e.rstrip("/")))}


def _spans(days: list[str]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days, first and last of each."""
    spans: list[tuple[date, date]] = []
    for day in map(date.fromisoformat, days):
        if spans and spans[-1][1] == day - timedelta(days=1):
            spans[-1] = (spans[-1][0], day)
        else:
            spans.append((day, day))
    return spans


def _check_days(model: Model, table: pa.Table, days: list[str]) -> None:
    """Refuse rows without a dt, or with a dt outside the run's days."""
    dts = table["dt"]
    if dts.null_count:
        raise ModelError(f"{model.path} returned {dts.null_count:,} rows without a dt: "
                         "every row must carry the day it belongs to")
    inside = pc.is_in(dts, value_set=pa.array(days, pa.string()))
    strays = pc.unique(dts.filter(pc.invert(inside))).to_pylist()
    if strays:
        raise ModelError(f"{model.path} returned rows for {strays[0]}, outside "
                         f"{days[0]}..{days[-1]}: filter its days with "
                         "dt BETWEEN $start_date AND $end_date")
