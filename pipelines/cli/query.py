"""`s3logs query` and `s3logs shell`: SQL on the analyst warehouse."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from pipelines.cli.common import UserError, catalog, format_table, where, write_csv
from pipelines.lake.store import Lake
from pipelines.sql.warehouse import listing, open_warehouse, refusal


def register(sub, parent: argparse.ArgumentParser) -> None:
    sp = sub.add_parser("query", parents=[parent],
                        help="run SQL against the analyst warehouse",
                        description="Run SQL against the analyst warehouse. `--list` shows "
                                    "its tables, views and macros.")
    sp.add_argument("sql", nargs="?", help="e.g. \"SELECT * FROM usage_daily LIMIT 10\"")
    sp.add_argument("--list", action="store_true",
                    help="list the warehouse's tables, views and macros with what they hold")
    sp.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    sp.add_argument("--out", help="write to this file instead of stdout")
    sp.add_argument("--limit", type=int, default=50, help="rows shown as a table")
    sp.set_defaults(func=run)

    sh = sub.add_parser("shell", parents=[parent], help="an interactive SQL prompt on the "
                        "warehouse")
    sh.add_argument("--limit", type=int, default=50)
    sh.set_defaults(func=shell)


def connection(args: argparse.Namespace) -> duckdb.DuckDBPyConnection:
    """The warehouse, for reading only (pipelines.sql.warehouse.open_warehouse)."""
    w = where(args)
    try:
        return open_warehouse(w.warehouse, Lake(w.lake, endpoint=w.endpoint), catalog(args))
    except FileNotFoundError as e:
        raise UserError(str(e)) from None


def run(args: argparse.Namespace) -> int:
    if args.list:
        print(format_table(["name", "kind", "what"], listing(catalog(args)), width=90))
        return 0
    if not args.sql:
        raise UserError("give the SQL to run, e.g. s3logs query \"SELECT * FROM usage_daily "
                        "LIMIT 10\", or --list to see what there is")
    con = connection(args)
    try:
        rel = con.sql(args.sql)
    except duckdb.Error as e:
        raise refusal(e) or UserError(f"the query failed: {str(e).splitlines()[0]}") from None
    if rel is None:
        return 0
    if args.format == "table":
        print(format_table(rel.columns, rel.limit(args.limit).fetchall()))
    elif args.format == "csv":
        write_csv(rel.to_arrow_table(), args.out)
    elif args.format == "json":
        lines = "".join(json.dumps(row, default=str) + "\n"
                        for row in rel.to_arrow_table().to_pylist())
        if args.out:
            Path(args.out).write_text(lines)
        else:
            sys.stdout.write(lines)
    else:
        if not args.out:
            raise UserError("--format parquet needs --out FILE")
        pq.write_table(rel.to_arrow_table(), args.out)
    return 0


def shell(args: argparse.Namespace) -> int:
    con = connection(args)
    print("s3logs warehouse (read-only): " + ", ".join(n for n, _, _ in listing(catalog(args))))
    print("`s3logs query --list` says what each holds. End statements with ;  Ctrl-D quits.")
    buffer = ""
    while True:
        try:
            buffer += input("s3logs> " if not buffer else "   ...> ") + "\n"
        except EOFError:
            print()
            return 0
        if buffer.strip().endswith(";"):
            try:
                rel = con.sql(buffer)
                if rel is not None:
                    print(format_table(rel.columns, rel.limit(args.limit).fetchall()))
            except duckdb.Error as e:
                print(f"error: {refusal(e) or str(e).splitlines()[0]}")
            buffer = ""
