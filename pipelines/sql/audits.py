"""A model's declared audits (its header's `audits (...)`), run on the rows the lake holds
for a run's days: what the run wrote, or, when its grain audit failed and nothing was
written, the rows the lake kept. Each audit is one `CheckResult`, as the other data
checks are (`checks`): Dagster makes each an asset check of the model's asset.

    audits (not_null (dt, bucket), accepted_values (severity, ('low', 'high')),
            row_count_min (1))

- not_null: no row of the days has a null in the columns (error);
- accepted_values: the column holds one of the values, or null (error; not_null covers
  nulls);
- row_count_min: every day of the run that the lake holds records for has at least N rows
  (a day without records is ingestion's matter, its own checks say so). A warning: a
  model may filter a day down to nothing (a day of only AWS's own traffic), which someone
  should see without what is downstream stopping.

The SQL is built with sqlglot's expression builder, never pasted: the model and its
columns are quoted identifiers (the catalog checked them against the header's columns),
and the days, the accepted values and the minimum are bound parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pyarrow as pa
from sqlglot import exp

from pipelines.lake.store import Lake
from pipelines.sql.catalog import Audit, AuditKind, Catalog, Model
from pipelines.sql.checks import ERROR, WARN, CheckResult, CheckSpec
from pipelines.sql.lineage import DIALECT
from pipelines.sql.models import days_between, recorded_days
from pipelines.sql.session import MEMORY_LIMIT, bound_memory, compiled, connect, mount

PREVIEW_ROWS = 5
SEVERITY = {AuditKind.NOT_NULL: ERROR, AuditKind.ACCEPTED_VALUES: ERROR,
            AuditKind.ROW_COUNT_MIN: WARN}


@dataclass(frozen=True)
class AuditQuery:
    """An audit as SQL: the SELECT of what breaks it (rows, or days for row_count_min),
    and the values its parameters are bound to."""

    select: exp.Select
    params: dict[str, object]

    def sql(self, limit: int | None = None) -> str:
        return (self.select.limit(limit) if limit else self.select).sql(dialect=DIALECT)

    def count_sql(self) -> str:
        return exp.select(exp.func("count", exp.Star())).from_(
            self.select.subquery("failing")).sql(dialect=DIALECT)


def spec(audit: Audit) -> CheckSpec:
    """The check an audit is; an error stops what is downstream, a warning does not."""
    return CheckSpec(audit.name, audit.describe(), blocking=SEVERITY[audit.kind] == ERROR)


def failing(model: Model, audit: Audit, days: list[str]) -> AuditQuery:
    """The query of what breaks `audit` among the model's rows of `days`."""
    if audit.kind == AuditKind.ROW_COUNT_MIN:
        return _short_days(model, audit, days)
    if audit.kind == AuditKind.NOT_NULL:
        broken = exp.or_(*(_column(c).is_(exp.null()) for c in audit.columns))
        params = _window(days)
    else:  # accepted_values: a null is not IN anything, so only values outside fail
        values = {f"value_{i}": v for i, v in enumerate(audit.values)}
        broken = exp.not_(_column(audit.columns[0]).isin(*map(_param, values)))
        params = _window(days) | values
    shown = dict.fromkeys([*model.grain, *audit.columns])
    select = exp.select(*map(_column, shown)).from_(_table(model)).where(
        exp.and_(_in_window(), broken)).order_by(*map(_column, model.grain))
    return AuditQuery(select, params)


def _short_days(model: Model, audit: Audit, days: list[str]) -> AuditQuery:
    """The `days` with fewer rows than the minimum, each with its rows (a day the model
    has no row for among them: the days come from a bound list, not from the rows)."""
    listed = exp.cast(_param("days"), exp.DataType.build("VARCHAR[]", dialect=DIALECT))
    day = exp.Unnest(expressions=[listed], alias=exp.TableAlias(
        this=_name("day"), columns=[_name("dt")]))
    rows = exp.func("count", _column("dt", model.name))
    select = (exp.select(_column("dt", "day"), exp.alias_(rows, _name("rows")))
              .from_(day)
              .join(_table(model), on=_column("dt", model.name).eq(_column("dt", "day")),
                    join_type="left")
              .group_by(_column("dt", "day"))
              .having(rows < _param("minimum"))
              .order_by(_column("dt", "day")))
    return AuditQuery(select, {"days": days, "minimum": audit.minimum})


def run(lake: Lake, catalog: Catalog, model: Model, start: date, end: date, *,
        memory_limit: str = MEMORY_LIMIT) -> list[CheckResult]:
    """Every audit the model declares, on the lake's rows of start..end (none declared:
    nothing is read)."""
    if not model.audits:
        return []
    days = days_between(start, end)
    recorded = sorted(set(days) & recorded_days(lake, "access_logs"))
    schema = compiled(catalog).empty[model.name].schema
    con = connect(lake)
    try:
        bound_memory(con, memory_limit)
        if not mount(con, lake, f"marts/{model.name}", model.name, schema):
            con.from_arrow(schema.empty_table()).create(model.name)  # never written
        rows = _count(con, exp.select(exp.func("count", exp.Star())).from_(_table(model))
                      .where(_in_window()).sql(dialect=DIALECT), _window(days))
        results = []
        for audit in model.audits:
            checked = recorded if audit.kind == AuditKind.ROW_COUNT_MIN else days
            query = failing(model, audit, checked)
            count = _count(con, query.count_sql(), query.params)
            preview = con.sql(query.sql(PREVIEW_ROWS), params=query.params).to_arrow_table()
            results.append(_result(model, audit, rows, len(checked), count, preview))
        return results
    finally:
        con.close()


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> int:
    return con.sql(sql, params=params).fetchall()[0][0]


def _result(model: Model, audit: Audit, rows: int, days: int, count: int,
            preview: pa.Table) -> CheckResult:
    what = audit.describe().rstrip(".")
    per_day = audit.kind == AuditKind.ROW_COUNT_MIN  # what fails is a day, not a row
    summary = (f"{model.name}: {count:,} of {days:,} days fail: {what}" if count and per_day
               else f"{model.name}: {count:,} of {rows:,} rows fail: {what}" if count
               else f"{model.name}: {rows:,} rows over {days:,} days pass: {what}")
    metadata = {"failing_days" if per_day else "failing_rows": count, "rows": rows,
                "days": days}
    return CheckResult(audit.name, not count, SEVERITY[audit.kind], summary, metadata,
                       preview if count else None)


def _in_window() -> exp.Expression:
    """A row of the run's days: dt between the bound $start_date and $end_date."""
    return _column("dt").between(_param("start_date"), _param("end_date"))


def _window(days: list[str]) -> dict[str, str]:
    return {"start_date": days[0], "end_date": days[-1]}


def _name(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _column(name: str, table: str | None = None) -> exp.Column:
    return exp.column(_name(name), table=_name(table) if table else None)


def _param(name: str) -> exp.Placeholder:
    return exp.Placeholder(this=name)


def _table(model: Model) -> exp.Table:
    """The model's rows: its lake folder, under its name, in the audits' session."""
    return exp.Table(this=_name(model.name))
