"""What every command shares: the parent parser whose defaults come from the settings,
days on the command line, plain-text tables, check results, one-sentence errors."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.csv as pacsv

from pipelines.config import settings
from pipelines.export import spreadsheet_safe, terminal_safe
from pipelines.lake.store import Lake
from pipelines.security.policy import PolicyFiles
from pipelines.sql.catalog import Catalog, load
from pipelines.sql.checks import ERROR, CheckResult
from pipelines.textsafe import visible


class UserError(Exception):
    """A problem the user can fix; printed as one sentence, without a traceback."""


def parent_parser() -> argparse.ArgumentParser:
    """--lake, --warehouse, --endpoint, --policies and --threat-list, on every command.
    Their defaults are read from the settings when the command runs (S3LOGS_LAKE,
    S3LOGS_WAREHOUSE, AWS_ENDPOINT_URL_S3, S3LOGS_POLICIES, S3LOGS_THREAT_LIST), so a bad
    setting is reported by the command that needs it, in one sentence."""
    p = argparse.ArgumentParser(add_help=False)
    where = p.add_argument_group("where")
    where.add_argument("--lake", help="lake root: a folder or s3:// URL "
                                      "(default: $S3LOGS_LAKE, else data/lake)")
    where.add_argument("--warehouse", help="analyst DuckDB file "
                                           "(default: $S3LOGS_WAREHOUSE, else "
                                           "data/warehouse.duckdb)")
    where.add_argument("--endpoint", help="S3 endpoint URL (default: $AWS_ENDPOINT_URL_S3)")
    where.add_argument("--policies", help="the access policy YAML file the security models "
                                          "check requests against (default: "
                                          "$S3LOGS_POLICIES, else none)")
    where.add_argument("--threat-list", help="a CSV of addresses or CIDRs to flag (default: "
                                             "$S3LOGS_THREAT_LIST, else none)")
    where.add_argument("--sql-dir", help="a folder of your own SQL models, added to the "
                                         "packaged ones (same name: yours) (default: "
                                         "$S3LOGS_SQL_DIR, else none)")
    return p


@dataclass(frozen=True)
class Where:
    lake: str
    warehouse: str
    endpoint: str | None


def where(args: argparse.Namespace) -> Where:
    cfg = settings()
    return Where(args.lake or cfg.lake, args.warehouse or cfg.warehouse,
                 args.endpoint or cfg.endpoint_url)


def catalog(args: argparse.Namespace) -> Catalog:
    """The packaged models, with the user's folder's added."""
    return load(extra=getattr(args, "sql_dir", None) or settings().sql_dir)


def policy_files(args: argparse.Namespace) -> PolicyFiles:
    cfg = settings()
    return PolicyFiles(getattr(args, "policies", None) or cfg.policies,
                       getattr(args, "threat_list", None) or cfg.threat_list)


def lake(args: argparse.Namespace) -> Lake:
    w = where(args)
    return Lake(w.lake, endpoint=w.endpoint)


def parse_days(text: str) -> list[date]:
    """`2026-11-24`, or an inclusive range `2026-11-01..2026-11-30`."""
    try:
        first, _, last = text.partition("..")
        start, end = date.fromisoformat(first), date.fromisoformat(last or first)
    except ValueError as e:
        raise UserError(f"{text!r} is not a day (YYYY-MM-DD) or a range (A..B)") from e
    if end < start:
        raise UserError(f"{text!r}: the range ends before it starts")
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def today(text: str | None) -> date:
    return date.fromisoformat(text) if text else datetime.now(UTC).date()


def format_table(columns: list[str], rows: list[tuple], width: int = 40) -> str:
    """A plain text table: numbers right-aligned, long values cut. Every header and cell
    goes through `visible`: values come from log content, and an escape sequence or a
    line break in one must neither drive the terminal nor break the table."""
    def cell(v) -> str:
        text = "" if v is None else f"{v:,}" if isinstance(v, int) and not isinstance(
            v, bool) else f"{v:,.4f}" if isinstance(v, float) else visible(str(v))
        return text if len(text) <= width else text[:width - 1] + "…"

    columns = [visible(str(c)) for c in columns]
    cells = [[cell(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) and rows
               for i in range(len(columns))]

    def line(values):
        return "  ".join(v.rjust(w) if n else v.ljust(w)
                         for v, w, n in zip(values, widths, numeric)).rstrip()
    return "\n".join([line(columns), line(["-" * w for w in widths])] +
                     [line(r) for r in cells] + [f"({len(rows)} rows)"])


def write_csv(table: pa.Table, out: str | None) -> None:
    """`table` as CSV to `out`, or to stdout: every cell spreadsheet-safe, and shown with
    visible escapes too when stdout is a terminal (a file keeps values as logged)."""
    safe = terminal_safe if out is None and sys.stdout.isatty() else spreadsheet_safe
    pacsv.write_csv(safe(table), out or sys.stdout.buffer)


def format_checks(results: list[CheckResult]) -> str:
    """One line per check: passed, warned or FAILED, and what it saw."""
    def status(r: CheckResult) -> str:
        return "passed" if r.passed else "FAILED" if r.severity == ERROR else "warned"
    return "\n".join(f"check {r.name:<24} {status(r):<7} {r.summary}" for r in results)


def failed(results: list[CheckResult]) -> int:
    """The exit status after checks: 1 when an error-level check failed."""
    return 1 if any(r.failed_error for r in results) else 0
