"""`s3logs report`: the self-contained HTML report."""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from pipelines import report
from pipelines.cli.common import UserError, catalog, lake, policy_files
from pipelines.config import settings


def register(sub, parent: argparse.ArgumentParser) -> None:
    sp = sub.add_parser("report", parents=[parent], help="write a self-contained HTML report")
    sp.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    sp.add_argument("--end", required=True, help="last day, YYYY-MM-DD")
    sp.add_argument("--out", help="the HTML file (default: $S3LOGS_REPORT, else "
                                  "data/report.html)")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except ValueError as e:
        raise UserError(f"--start and --end are days, YYYY-MM-DD ({e})") from None
    if end < start:
        raise UserError("--end is before --start")
    page = report.build(lake(args), start, end, policy_files(args), catalog(args))
    out = Path(args.out or settings().report)
    report.write(page, out)
    print(f"wrote {out} ({len(page) / 1024:,.0f} KiB, self-contained: open it offline)")
    return 0
