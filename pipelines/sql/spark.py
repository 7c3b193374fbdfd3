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
results are small), cast to the shape DuckDB compiles for it. The rest of a run is the
runner's, the one DuckDB's results go through (pipelines.sql.models: the days, the history
a window needs, the checks, the audit, the files): this module is its `Spark` engine, and
the lake cannot tell which engine wrote a day. pyspark is the optional `spark` extra; it
needs Java 17.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pyarrow as pa

from pipelines.lake.store import Lake
from pipelines.sql import checks, ddl, dialects
from pipelines.sql import models as runner
from pipelines.sql.catalog import Catalog, Kind, Model
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
    days = sorted(d for d in runner.recorded_days(lake, "access_logs") if first <= d <= last)
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
        days = sorted(runner.recorded_days(lake, table.folder))
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
        raise runner.ModelError(f"{model.path} returned {table.column_names} on Spark, "
                                f"not {shape.names}")
    return checks.sort_by_grain(table.select(shape.names).cast(shape), model)


class Spark:
    """The models on Spark: in `spark`, the caller's session, else in `session(master)`,
    started when a run opens the engine (once the models are known to run on Spark)."""

    name = ENGINE

    def __init__(self, spark=None, master: str | None = None):
        self.spark, self.master = spark, master
        self.lake: Lake | None = None
        self.catalog: Catalog | None = None
        self.tables: dict[str, ddl.Table] = {}

    @contextmanager
    def open(self, lake: Lake, catalog: Catalog, models: list[Model], first: date,
             last: date) -> Iterator[None]:
        self.spark = self.spark or session(self.master)
        configure(self.spark)
        install(self.spark, lake, catalog, models, first.isoformat(), last.isoformat())
        self.lake, self.catalog = lake, catalog
        self.tables = {t.name: t for t in ddl.tables(catalog)}
        yield  # the session outlives the run: it is Spark's to stop, or the caller's

    def query(self, model: Model, start: date, end: date, **params) -> pa.Table:
        return query(self.spark, self.catalog, model, start, end, **params)

    def refresh(self, model: Model) -> None:
        folder_view(self.spark, self.lake, self.tables[model.name])


def run_models(lake: Lake, start: date, end: date, names: list[str] | None = None,
               catalog: Catalog | None = None, *, spark=None, master: str | None = None,
               **params) -> dict[str, runner.ModelRun]:
    """The models (default: every one that runs on Spark) and the models they read, each
    after what it reads, on `spark` (default: `session(master)`): the runner of
    pipelines.sql.models with the `Spark` engine."""
    return runner.run_models(lake, start, end, names, catalog,
                             engine=Spark(spark, master), **params)
