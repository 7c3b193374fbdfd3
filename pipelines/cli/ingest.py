"""`s3logs ingest`: days of log objects into the lake, with the ingestion checks."""

from __future__ import annotations

import argparse
import json
import os

from pipelines.cli.common import UserError, failed, format_checks, lake, parse_days, today, where
from pipelines.config import ConfigError, parse_size, settings
from pipelines.ingestion.ingest import ingest
from pipelines.ingestion.planning import trailing_days
from pipelines.ingestion.results import RunReport
from pipelines.ingestion.sources import LogSource
from pipelines.lake.compact import MEMORY
from pipelines.lake.folder_inputs import NEW_ROWS
from pipelines.sql import checks
from pipelines.textsafe import visible


def register(sub, parent: argparse.ArgumentParser) -> None:
    sp = sub.add_parser("ingest", parents=[parent],
                        help="ingest days of log objects into the Parquet lake")
    sp.add_argument("--source", action="append", metavar="URL",
                    help="s3://target-bucket/prefix/ or a local folder (repeatable; "
                    "default: $S3LOGS_SOURCES)")
    sp.add_argument("--days", help="YYYY-MM-DD or an inclusive range A..B")
    sp.add_argument("--trailing", type=int, metavar="N",
                    help="re-check the N days before today (late deliveries)")
    sp.add_argument("--today", help="what today is, for --trailing (default: UTC today)")
    sp.add_argument("--layout", choices=["auto", "simple", "partitioned"], default="auto")
    sp.add_argument("--force", action="store_true", help="re-ingest unchanged objects too")
    sp.add_argument("--json", action="store_true", help="print the run report as JSON")
    sp.add_argument("--quiet", action="store_true", help="no progress on stderr")
    sp.add_argument("--workers", type=int, metavar="N", default=cores(),
                    help="units (source and day) ingested at once (default: the cores "
                    f"available, {cores()} here)")
    sp.add_argument("--memory", type=size, metavar="SIZE", default=MEMORY,
                    help="working memory of the partition rebuilds, all together: larger "
                    "partitions are sorted on local disk (default: "
                    f"{MEMORY >> 20}MiB)")
    sp.set_defaults(func=run)


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def size(text: str) -> int:
    try:
        return parse_size(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def run(args: argparse.Namespace) -> int:
    if args.trailing is not None:
        days = trailing_days(today(args.today), args.trailing)
    elif args.days:
        days = parse_days(args.days)
    else:
        raise UserError("say which days: --days 2026-11-24, --days A..B or --trailing N")
    urls = args.source or list(settings().sources)
    sources = [LogSource(url, layout=args.layout, endpoint=where(args).endpoint)
               for url in urls]
    lk = lake(args)
    report = ingest(sources, lk, days, force=args.force, progress=not args.quiet,
                    workers=max(args.workers, 1), memory=args.memory)
    results = checks.ingestion(report, lk, days).results
    if args.json:
        print(json.dumps({**report.as_dict(), "checks": [
            {"name": r.name, "passed": r.passed, "severity": r.severity, "summary": r.summary}
            for r in results]}, indent=1))
    else:
        print(format_report(report))
        print(format_checks(results))
    return failed(results)


def format_report(report: RunReport) -> str:
    lines = [f"{'day':<11} {'objects':>8} {'new':>6} {'lines':>10} {'rows':>10} "
             f"{'quarantined':>11}  source"]
    for d in report.days:
        lines.append(f"{d.day:<11} {d.objects_listed:>8,} {d.objects_ingested:>6,} "
                     f"{d.lines_read:>10,} {d.rows_parsed:>10,} {d.rows_quarantined:>11,}  "
                     f"{visible(d.source)}")
        for key in d.unrecognized_keys[:5]:
            lines.append(f"  ! not a log object key in either layout: {visible(key)}")
        for entry in d.skipped[:20]:
            lines.append(f"  ! not read: {visible(entry)}")
        if d.error:  # a staging sentence says itself what to do
            then = "" if d.error.startswith("staging file ") else ", run again"
            lines.append(f"  ! could not be ingested{then}: {visible(d.error)}")
        for key in d.objects_vanished[:5]:
            lines.append(f"  ! deleted between listing and reading: {visible(key)}")
    r = report.requests
    lines.append(f"\n{report.total('lines_read'):,} lines read = "
                 f"{report.total('rows_parsed'):,} rows + {report.total('rows_quarantined'):,} "
                 f"quarantined; {report.duplicates_dropped:,} duplicate records dropped")
    for s in report.staging:
        lines.append(f"  ! {visible(s.sentence)}")
    healed = [f for f in report.rebuilt if f.reason != NEW_ROWS]
    for folder in healed[:20]:  # the others were rebuilt for the new rows of their units
        lines.append(f"  rebuilt {visible(folder.folder)}: {visible(folder.reason)}")
    lines.append(f"{report.partitions_rewritten:,} partitions rewritten, "
                 f"{report.files_rewritten:,} files; "
                 f"requests: {r['LIST']:,} LIST, {r['GET']:,} GET to sources, "
                 f"{report.lake_requests['PUT']:,} PUT to the lake; {report.seconds:.1f} s")
    return "\n".join(lines)
