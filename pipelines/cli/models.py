"""`s3logs models` and `s3logs warehouse`: the SQL catalog, running models without
Dagster (in DuckDB, or on Spark with --engine spark), the Hive DDL of the lake for other
engines (`s3logs models ddl athena|hive`), and rebuilding the analyst warehouse."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli.common import (
    UserError,
    failed,
    format_checks,
    format_table,
    lake,
    parse_days,
    policy_files,
    where,
)
from pipelines.cli.common import catalog as models_catalog
from pipelines.sql import audits as header_audits
from pipelines.sql import ddl, models, warehouse
from pipelines.sql.catalog import CatalogError, Kind
from pipelines.sql.session import MEMORY_LIMIT, columns


def register(sub, parent: argparse.ArgumentParser) -> None:
    sp = sub.add_parser("models", help="the SQL models: list them, or run them for days")
    msub = sp.add_subparsers(dest="action", required=True)
    ls = msub.add_parser("list", parents=[parent], help="every SQL file of the catalog: "
                         "kind, name, grain, parameters, description")
    ls.add_argument("--columns", action="store_true", help="with each column's type and doc")
    ls.set_defaults(func=list_models)
    rn = msub.add_parser("run", parents=[parent], help="compute models for days and write "
                         "them to the lake, checking each one's grain and its header's audits")
    rn.add_argument("--days", required=True, help="YYYY-MM-DD or an inclusive range A..B")
    rn.add_argument("--model", action="append", help="only this model (repeatable)")
    rn.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a model parameter, e.g. top_n=20 (repeatable)")
    rn.add_argument("--memory-limit", default=MEMORY_LIMIT,
                    help="what DuckDB may hold in memory before it spills to disk "
                         f"(default {MEMORY_LIMIT})")
    rn.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb",
                    help="where the models run: duckdb (default), or spark for the models "
                         "whose header lists it (pip install 's3logs[spark]', Java 17; "
                         "docs: engines)")
    rn.add_argument("--spark-master", help="with --engine spark: the Spark master, e.g. "
                                           "local[4] or yarn (default: Spark's own "
                                           "configuration, else local[*])")
    rn.set_defaults(func=run_models)

    dd = msub.add_parser("ddl", parents=[parent], help="print the Hive DDL of the lake's "
                         "tables and the analyst view, for this lake (docs: engines)")
    dd.add_argument("flavour", choices=tuple(ddl.FLAVOURS),
                    help="athena (partition projection) or hive (Spark, Hive, Trino)")
    dd.set_defaults(func=print_ddl)

    wh = sub.add_parser("warehouse", parents=[parent],
                        help="rebuild the analyst warehouse file from the lake")
    wh.set_defaults(func=build_warehouse)


def list_models(args: argparse.Namespace) -> int:
    catalog = models_catalog(args)
    documented = columns(catalog)  # compiling checks every header against its SQL
    for kind in Kind:
        found = catalog.of(kind)
        if not found:
            continue
        print(f"\n{kind}")
        rows = [(m.name, m.path, ", ".join(m.grain),
                 ", ".join(f"{k}={v}" for k, v in m.parameters.items()), m.description)
                for m in found]
        print(format_table(["name", "file", "grain", "parameters", "description"], rows, 60))
        for m in found if args.columns else ():
            print(f"\n  {m.name}")
            for c in documented.get(m.name, []):
                print(f"    {c.name:<28} {c.type:<12} {c.doc}")
    return 0


def run_models(args: argparse.Namespace) -> int:
    days = parse_days(args.days)
    catalog = models_catalog(args)
    names = args.model or models.model_names(catalog, args.engine)
    params = {}
    for text in args.param:
        name, eq, value = text.partition("=")
        if not eq:
            raise UserError(f"--param {text!r}: write NAME=VALUE, e.g. top_n=20")
        takers = [catalog[n] for n in names if name in catalog[n].parameters]
        if not takers:
            raise UserError(f"--param {name}: none of {', '.join(names)} takes it")
        params[name] = takers[0].parameter(name, value)
    target = lake(args)
    if args.engine == "spark":
        from pipelines.sql import spark  # pyspark is optional: imported when asked for

        try:
            runs = spark.run_models(target, days[0], days[-1], names, catalog,
                                    master=args.spark_master, **params)
        except (spark.SparkUnavailable, CatalogError) as e:
            raise UserError(str(e)) from None
        except spark.SparkError as e:
            raise UserError(f"Spark said: {str(e).splitlines()[0]}") from None
    else:
        runs = models.run_models(target, days[0], days[-1], names, catalog,
                                 memory_limit=args.memory_limit,
                                 policy_files=policy_files(args), **params)
    print(format_table(["model", "rows", "days", "files", "written"],
                       [(r.model, r.rows, len(r.days), len(r.files), r.audit.passed)
                        for r in runs.values()]))
    for filled in (f for r in runs.values() for f in r.filled):
        print(f"computed first, for a window: {filled.model} {filled.days[0]}.."
              f"{filled.days[-1]} ({filled.rows:,} rows)")
    audits = [r.audit for r in runs.values()] + [
        a for r in runs.values() for a in header_audits.run(
            target, catalog, catalog[r.model], days[0], days[-1],
            memory_limit=args.memory_limit)]
    print(format_checks(audits))
    return failed(audits)


def print_ddl(args: argparse.Namespace) -> int:
    """Every CREATE (and MSCK REPAIR) statement of the flavour with this lake's location,
    then the analyst view, ready to paste (or to run one by one)."""
    the_lake = lake(args)
    root = the_lake.display(the_lake.path()) if the_lake.loc.is_s3 else \
        f"file:{Path(the_lake.path()).resolve()}"
    catalog = models_catalog(args)
    statements = [f"CREATE DATABASE IF NOT EXISTS {ddl.DATABASE}"]
    for table in ddl.tables(catalog):
        statements += [s for s in (ddl.create_table(table, args.flavour, root),
                                   ddl.repair(table, args.flavour)) if s]
    statements.append(ddl.create_view(catalog, args.flavour))
    print("".join(f"{s};\n\n" for s in statements), end="")
    return 0


def build_warehouse(args: argparse.Namespace) -> int:
    path = where(args).warehouse
    counts = warehouse.build(lake(args), path, models_catalog(args), policy_files(args))
    print(f"wrote {path}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return 0
