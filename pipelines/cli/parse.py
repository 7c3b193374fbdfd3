"""`s3logs parse`: log files into Parquet records and rejects."""

from __future__ import annotations

import argparse
import time

from pipelines.parsing.parse_files import parse_files


def register(sub, parent: argparse.ArgumentParser) -> None:
    sp = sub.add_parser("parse", parents=[parent],
                        help="parse log files into a Parquet table of records")
    sp.add_argument("files", nargs="+", metavar="FILE_OR_DIR")
    sp.add_argument("--out", required=True, help="Parquet file for the records")
    sp.add_argument("--rejects", help="Parquet file for lines that could not be parsed")
    sp.add_argument("--quiet", action="store_true", help="no progress on stderr")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    c = parse_files(args.files, args.out, args.rejects, progress=not args.quiet)
    secs = time.perf_counter() - started
    print(f"lines read:    {c.lines_read:,}")
    print(f"rows written:  {c.rows:,}  -> {args.out}")
    print(f"rows rejected: {c.rejected:,}" + (f"  -> {args.rejects}" if args.rejects else
                                             "  (use --rejects FILE to keep them)"))
    print(f"blank lines:   {c.blank_lines:,}")
    print(f"{c.files:,} files, {c.bytes_read / 1e6:,.1f} MB in {secs:.1f} s")
    return 0
