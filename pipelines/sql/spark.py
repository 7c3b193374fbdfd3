"""The portable models on Apache Spark, over the same lake: `s3logs models run --engine
spark`, or `run_models(lake, start, end, names, spark=...)` from Python.

A model runs on Spark when its header's `engines` say so, for it and everything it reads
(`Catalog.check_engine`): today usage_daily, transfer_out_daily and billing_daily, over
the analyst view and the seeds. Spark reads the lake's Parquet itself: the records of the
days the run needs (its own, and those its window reaches back to) and the results of the
models it reads, with the columns and types of the Hive DDL (pipelines.sql.ddl), so `dt`
stays text. The seeds are loaded from their CSVs, and the view and each model run as
pipelines.sql.dialects renders them, their day range and parameters bound as Spark's
`:name` markers. Each result comes back to the driver as Arrow (models summarise: a day's
results are small), cast to the shape DuckDB compiles for it, audited and written exactly
as the DuckDB runner writes (pipelines.sql.models): the lake cannot tell which engine
wrote a day. pyspark is the optional `spark` extra; it needs Java 17.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from pipelines.lake.store import Lake
from pipelines.sql import checks, ddl, dialects
from pipelines.sql.catalog import Catalog, CatalogError, Kind, Model, load
from pipelines.sql.models import ModelError, ModelRun, days_between, recorded_days
from pipelines.sql.session import compiled, seed_table

ENGINE = "spark"
# What every run needs, whatever the cluster's defaults: runtime settings, so a session
# given by the caller gets them too.
SETTINGS = {
    "spark.sql.session.timeZone": "UTC",  # days and hours are UTC's, as in DuckDB
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",  # dt stays text
    "spark.sql.ansi.enabled": "true",  # a bad cast or an overflow fails, as in DuckDB
}


try:  # what Spark raises (an AnalysisException...), for callers to catch
    from pyspark.errors import PySparkException as SparkError
except ImportError:  # pyspark is optional: then nothing raises it
    class SparkError(Exception):  # type: ignore[no-redef]
        """Stands for pyspark's errors when pyspark is not installed."""


class SparkUnavailable(RuntimeError):
    """pyspark is missing or Spark could not start; the message says what to install."""


def session(master: str | None = None):
    """A Spark session (the one running, if any) with `SETTINGS`. `master`: e.g. local[4]
    or yarn; default, what spark-submit or spark-defaults.conf say, else local[*]."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable("pyspark is not installed: pip install 's3logs[spark]' "
                               "(Spark also needs Java 17)") from None
    builder = SparkSession.builder.appName("s3logs")
    if master:
        builder = builder.master(master)
    try:
        spark = builder.getOrCreate()
    except Exception as e:  # pyspark raises its own runtime errors when Java is missing
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise SparkUnavailable(f"Spark did not start ({reason}): it needs Java 17 (`make "
                               "java`, or apt-get install openjdk-17-jre-headless)") from None
    configure(spark)
    return spark


def configure(spark) -> None:
    for key, value in SETTINGS.items():
        spark.conf.set(key, value)


def uri(lake: Lake, *parts: str) -> str:
    """A lake path as Spark's Hadoop filesystems name it (s3a:// on S3), unescaped: Hadoop
    quotes it itself (a percent-encoded `dt%3D...` would name another folder)."""
    path = lake.path(*parts)
    return f"s3a://{path}" if lake.loc.is_s3 else f"file:{Path(path).resolve()}"


def _glob_literal(path: str) -> str:
    """`path` as a Hadoop glob that matches only itself (Spark globs the paths it reads)."""
    return re.sub(r"[\\\[\]{}*?]", lambda m: "\\" + m.group(), path)


def install(spark, lake: Lake, catalog: Catalog, models: list[Model], first: str,
            last: str) -> None:
    """Temporary views of what the models read: lake_access_logs over the lake's days
    first..last, the seeds, the views (rendered for Spark) and the models' results."""
    tables = {t.name: t for t in ddl.tables(catalog)}
    days = sorted(d for d in recorded_days(lake, "access_logs") if first <= d <= last)
    folder_view(spark, lake, tables["lake_access_logs"], days)
    needed = {n for m in models for n in catalog.reads(m, Kind.SEED, Kind.VIEW, Kind.MODEL)}
    for entry in catalog.ordered(Kind.SEED, Kind.VIEW, Kind.MODEL):
        if entry.name not in needed:
            continue
        if entry.kind == Kind.SEED:
            spark.createDataFrame(seed_table(catalog, entry)).createOrReplaceTempView(
                ddl.name(entry.name))
        elif entry.kind == Kind.VIEW:
            spark.sql(dialects.render(catalog, entry, ENGINE)).createOrReplaceTempView(
                ddl.name(entry.name))
        else:
            folder_view(spark, lake, tables[entry.name])


def folder_view(spark, lake: Lake, table: ddl.Table, days: list[str] | None = None) -> None:
    """`table` as a temporary view over its lake folder (only `days`, if given), or empty,
    with the DDL's columns: partitions as text, never inferred."""
    schema = ddl.spark_schema(table)
    if days is None:
        days = sorted(recorded_days(lake, table.folder))
    if days:
        frame = spark.read.schema(schema).option("basePath", uri(lake, table.folder)).parquet(
            *(_glob_literal(uri(lake, table.folder, f"dt={day}")) for day in days))
    else:
        frame = spark.createDataFrame([], schema)
    frame.createOrReplaceTempView(ddl.name(table.name))


def query(spark, catalog: Catalog, model: Model, start: date, end: date,
          **params) -> pa.Table:
    """The model's rows for start..end on Spark, in the shape DuckDB compiles for it and
    sorted by its grain (as pipelines.sql.models.query returns them)."""
    sql = dialects.render(catalog, model, ENGINE)
    bound = model.bind(start.isoformat(), end.isoformat(), **params)
    table = spark.sql(sql, args=bound).toArrow()
    shape = compiled(catalog).empty[model.name].schema
    if set(table.column_names) != set(shape.names):
        raise ModelError(f"{model.path} returned {table.column_names} on Spark, "
                         f"not {shape.names}")
    return checks.sort_by_grain(table.select(shape.names).cast(shape), model)


def run_model(lake: Lake, name: str, start: date, end: date, spark,
              catalog: Catalog | None = None, **params) -> ModelRun:
    """Compute the model for start..end on Spark (the views `install` made), audit its
    grain, and if it passes replace those days in the lake."""
    catalog = catalog or load()
    model = catalog[name]
    catalog.check_engine(model, ENGINE)
    filled = _fill_history(lake, model, start, spark, catalog, model.bind(
        start.isoformat(), end.isoformat(), **params))
    table = query(spark, catalog, model, start, end, **params)
    days = days_between(start, end)
    _check_days(model, table, days)
    audit = checks.grain(model, table)
    files = []
    if audit.passed:
        for day in days:
            rows = table.filter(pc.equal(table["dt"], day)).drop_columns(["dt"])
            files += lake.replace_table_partition(["marts", model.name, f"dt={day}"], rows)
    return ModelRun(model.name, table.num_rows, days, files, audit, tuple(filled))


def run_models(lake: Lake, start: date, end: date, names: list[str] | None = None,
               catalog: Catalog | None = None, *, spark=None, master: str | None = None,
               **params) -> dict[str, ModelRun]:
    """The models (default: every one that runs on Spark) and the models they read, each
    after what it reads, on `spark` (default: `session(master)`, started once the models
    are known to run on Spark)."""
    catalog = catalog or load()
    chosen = set(names or [m.name for m in catalog.of(Kind.MODEL)
                           if ENGINE in catalog.engines(m)])
    todo = list(chosen)
    while todo:  # and what they read, and what that reads
        for up in catalog.reads(catalog[todo.pop()], Kind.MODEL):
            if up not in chosen:
                chosen.add(up)
                todo.append(up)
    order = [m for m in catalog.ordered(Kind.MODEL) if m.name in chosen]
    for model in order:
        catalog.check_engine(model, ENGINE)
    declared = {p for m in order for p in m.parameters}
    if set(params) - declared:
        raise CatalogError(f"no model among {', '.join(sorted(chosen))} takes the parameter "
                           f"{sorted(set(params) - declared)[0]!r}")
    spark = spark or session(master)
    configure(spark)
    first = min(m.window.first_day(start, m.bind(start.isoformat(), end.isoformat(), **{
        k: v for k, v in params.items() if k in m.parameters})) for m in order)
    install(spark, lake, catalog, order, first.isoformat(), end.isoformat())
    tables = {t.name: t for t in ddl.tables(catalog)}
    runs = {}
    for model in order:
        runs[model.name] = run_model(lake, model.name, start, end, spark, catalog, **{
            k: v for k, v in params.items() if k in model.parameters})
        if runs[model.name].files:  # the models after it read its fresh results
            folder_view(spark, lake, tables[model.name])
    return runs


def _fill_history(lake: Lake, model: Model, start: date, spark, catalog: Catalog,
                  bound: dict) -> list[ModelRun]:
    """The results of the models `model` reads on the days of its window before `start`
    that have records but no results yet, computed first (as the DuckDB runner does)."""
    first = model.window.first_day(start, bound)
    if first >= start:
        return []
    recorded = recorded_days(lake, "access_logs") & set(
        days_between(first, start - timedelta(days=1)))
    runs = []
    for name in catalog.reads(model, Kind.MODEL):
        missing = sorted(recorded - recorded_days(lake, f"marts/{name}"))
        for a, b in _spans(missing):
            runs.append(run_model(lake, name, a, b, spark, catalog))
        if missing:
            folder_view(spark, lake, {t.name: t for t in ddl.tables(catalog)}[name])
    return runs


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
    if table["dt"].null_count:
        raise ModelError(f"{model.path} returned rows without a dt on Spark")
    strays = set(table["dt"].to_pylist()) - set(days)
    if strays:
        raise ModelError(f"{model.path} returned rows for {min(strays)} on Spark, outside "
                         f"{days[0]}..{days[-1]}")
