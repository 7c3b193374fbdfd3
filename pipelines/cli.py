"""The `s3logs` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from . import bucket_logging, report, retention
from .config import DEMO_SOURCE, settings
from .fetch import FetchError
from .ingest import ingest, trailing_days
from .lake import Lake
from .logformat import RECORD_SCHEMA, REJECT_SCHEMA
from .parse import parse_objects
from .progress import Progress
from .sources import LogSource
from .synth import SynthConfig, write_big_file, write_objects
from .warehouse import open_warehouse


class UserError(Exception):
    """A problem the user can fix; printed as one sentence, without a traceback."""


def _input_files(paths: list[str]) -> Iterator[Path]:
    for p in map(Path, paths):
        if p.is_dir():
            yield from sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        elif p.is_file():
            yield p
        else:
            raise UserError(f"{p} does not exist: give log files or folders of log files.")


@dataclass
class ParseCounts:
    files: int = 0
    bytes_read: int = 0
    lines_read: int = 0
    rows: int = 0
    rejected: int = 0
    blank_lines: int = 0


def _opened(files: list[Path]) -> Iterator[tuple[str, BinaryIO]]:
    """Each file open only while the parser reads it."""
    for f in files:
        with open(f, "rb") as stream:
            yield str(f), stream


def parse_files(paths: list[str], out: str, rejects_out: str | None,
                quiet: bool = False) -> ParseCounts:
    """Stream every file through the parser into Parquet; nothing is held in memory whole."""
    files = list(_input_files(paths))
    if not files:
        raise UserError("no log files found under " + ", ".join(paths))
    counts = ParseCounts(files=len(files))
    progress = Progress("parse", total=sum(f.stat().st_size for f in files), unit="B",
                        enabled=not quiet)
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(pq.ParquetWriter(out, RECORD_SCHEMA, compression="zstd"))
        rejects = (stack.enter_context(pq.ParquetWriter(rejects_out, REJECT_SCHEMA))
                   if rejects_out else None)
        for part in parse_objects(_opened(files)):
            writer.write_table(part.records)
            if rejects:
                rejects.write_table(part.rejects)
            counts.bytes_read += part.bytes_read
            counts.lines_read += part.lines_read
            counts.rows += len(part.records)
            counts.rejected += len(part.rejects)
            counts.blank_lines += part.blank_lines
            progress.advance(part.bytes_read)
    progress.done()
    return counts


def _cmd_parse(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    c = parse_files(args.files, args.out, args.rejects, args.quiet)
    secs = time.perf_counter() - started
    print(f"lines read:    {c.lines_read:,}")
    print(f"rows written:  {c.rows:,}  -> {args.out}")
    print(f"rows rejected: {c.rejected:,}" + (f"  -> {args.rejects}" if args.rejects else
                                             "  (use --rejects FILE to keep them)"))
    print(f"blank lines:   {c.blank_lines:,}")
    print(f"{c.files:,} files, {c.bytes_read / 1e6:,.1f} MB in {secs:.1f} s")
    return 0


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


def _cmd_ingest(args: argparse.Namespace) -> int:
    if args.trailing is not None:
        days = trailing_days(date.fromisoformat(args.today) if args.today else
                             datetime.now(UTC).date(), args.trailing)
    elif args.days:
        days = parse_days(args.days)
    else:
        raise UserError("say which days: --days 2026-11-24, --days A..B or --trailing N")
    sources = [LogSource(url, layout=args.layout, endpoint=args.endpoint)
               for url in args.source]
    lake = Lake(args.lake, endpoint=args.endpoint)
    report = ingest(sources, lake, days, force=args.force, progress=not args.quiet)
    if args.json:
        print(json.dumps(report.as_dict(), indent=1))
        return 0
    print(format_report(report))
    return 0


def format_report(report) -> str:
    lines = [f"{'day':<11} {'objects':>8} {'new':>6} {'lines':>10} {'rows':>10} "
             f"{'quarantined':>11}  source"]
    for d in report.days:
        lines.append(f"{d.day:<11} {d.objects_listed:>8,} {d.objects_ingested:>6,} "
                     f"{d.lines_read:>10,} {d.rows_parsed:>10,} {d.rows_quarantined:>11,}  "
                     f"{d.source}")
        for key in d.unrecognized_keys[:5]:
            lines.append(f"  ! not a log object key in either layout: {key}")
        for key in d.objects_vanished[:5]:
            lines.append(f"  ! deleted between listing and reading: {key}")
    r = report.requests
    lines.append(f"\n{report.total('lines_read'):,} lines read = "
                 f"{report.total('rows_parsed'):,} rows + {report.total('rows_quarantined'):,} "
                 f"quarantined; {report.duplicates_dropped:,} duplicate records dropped")
    lines.append(f"{len({p for d in report.days for p in d.partitions}):,} partitions "
                 f"rewritten, {len({f for d in report.days for f in d.files_written}):,} "
                 "files; "
                 f"requests: {r['LIST']:,} LIST, {r['GET']:,} GET to sources, "
                 f"{report.lake_requests['PUT']:,} PUT to the lake; {report.seconds:.1f} s")
    return "\n".join(lines)


def _warehouse_connection():
    cfg = settings()
    lake = Lake(cfg.lake) if cfg.lake.startswith("s3://") else None
    try:
        return open_warehouse(cfg.warehouse, lake)
    except FileNotFoundError as e:
        raise UserError(str(e)) from None


def _cmd_query(args: argparse.Namespace) -> int:
    con = _warehouse_connection()
    try:
        rel = con.sql(args.sql)
    except duckdb.Error as e:
        raise UserError(f"the query failed: {str(e).splitlines()[0]}") from None
    if rel is None:
        return 0
    if args.format == "table":
        print(format_table(rel.columns, rel.limit(args.limit).fetchall()))
    elif args.format == "csv":
        table = rel.to_arrow_table()
        pacsv.write_csv(table, args.out or sys.stdout.buffer)
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


def format_table(columns: list[str], rows: list[tuple], width: int = 40) -> str:
    """A plain text table: numbers right-aligned, long values cut."""
    def cell(v) -> str:
        text = "" if v is None else f"{v:,}" if isinstance(v, int) and not isinstance(
            v, bool) else f"{v:,.4f}" if isinstance(v, float) else str(v)
        return text if len(text) <= width else text[:width - 1] + "…"

    cells = [[cell(v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[i], (int, float)) or r[i] is None for r in rows) and rows
               for i in range(len(columns))]
    def line(values):
        return "  ".join(v.rjust(w) if n else v.ljust(w)
                         for v, w, n in zip(values, widths, numeric)).rstrip()
    return "\n".join([line(columns), line(["-" * w for w in widths])] +
                     [line(r) for r in cells] + [f"({len(rows)} rows)"])


def _cmd_shell(args: argparse.Namespace) -> int:
    con = _warehouse_connection()
    print("s3logs warehouse (read-only). Views: " + ", ".join(
        r[0] for r in con.execute("SELECT view_name FROM duckdb_views() "
                                  "WHERE NOT internal ORDER BY 1").fetchall()))
    print("End statements with ;  Ctrl-D quits.")
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
                print(f"error: {str(e).splitlines()[0]}")
            buffer = ""


def _aws_clients(endpoint: str | None):
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    sts = boto3.client("sts", endpoint_url=endpoint)
    return s3, sts


def _cmd_logging(args: argparse.Namespace) -> int:
    s3, sts = _aws_clients(args.endpoint)
    if args.action == "enable":
        changes = bucket_logging.enable(s3, sts, args.source_bucket, args.target,
                                        partitioned=args.partitioned,
                                        event_time=not args.delivery_time)
    elif args.action == "disable":
        changes = bucket_logging.disable(s3, args.source_bucket)
    else:
        buckets = args.buckets or [b["Name"] for b in s3.list_buckets()["Buckets"]]
        rows = bucket_logging.status(s3, buckets, list(settings().sources))
        cols = ["bucket", "logging", "target", "layout", "target_grants_delivery",
                "covered_by_sources"]
        print(format_table(cols, [tuple(r[c] for c in cols) for r in rows]))
        return 0
    for change in changes:
        print(f"changed: {change}")
    return 0


def _cmd_retention(args: argparse.Namespace) -> int:
    if args.action == "lake":
        today = date.fromisoformat(args.today) if args.today else datetime.now(UTC).date()
        removed = retention.prune_lake(Lake(settings().lake), args.keep_days, today)
        print(f"removed {len(removed):,} lake files older than {args.keep_days} days")
        return 0
    s3, _ = _aws_clients(args.endpoint)
    if args.action == "apply":
        for change in retention.apply(s3, args.target, args.transition_days,
                                      args.storage_class, args.expire_days,
                                      late_days=settings().late_days):
            print(f"changed: {change}")
        return 0
    rules = retention.show(s3, args.target)
    print(format_table(["id", "status", "prefix", "transitions", "expires after"],
                       [(r["id"], r["status"], r["prefix"],
                         ", ".join(f"{t['Days']}d -> {t['StorageClass']}"
                                   for t in r["transitions"]),
                         f"{r['expiration']['Days']}d" if r["expiration"] else "never")
                        for r in rules])
          if rules else f"no lifecycle rule applies to {args.target}: raw logs are kept "
                        "forever (see `s3logs retention apply --help`)")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    start, end = date.fromisoformat(args.start), date.fromisoformat(args.end)
    if end < start:
        raise UserError("--end is before --start")
    page = report.build(Lake(settings().lake), start, end)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(page)
    print(f"wrote {args.out} ({len(page) / 1024:,.0f} KiB, self-contained: open it offline)")
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    if args.single_file:
        size = _parse_size(args.size)
        n = write_big_file(args.out, size, seed=args.seed)
        print(f"wrote {n:,} lines ({size / 2**20:,.0f} MiB) to {args.out}")
        return 0
    cfg = SynthConfig(start=date.fromisoformat(args.start), days=args.days,
                      buckets=tuple(args.buckets.split(",")), records_per_day=args.records_per_day,
                      layout=args.layout, partition_date_source=args.partition_date_source,
                      prefix=args.prefix, seed=args.seed)
    keys = write_objects(cfg, args.out)
    print(f"wrote {len(keys):,} log objects for {len(cfg.buckets)} buckets x {cfg.days} days "
          f"under {args.out}")
    return 0


DEMO = SynthConfig()


def demo_days() -> tuple[date, date]:
    """The demo's partition range: the generated week plus the days late objects reach."""
    return DEMO.start, DEMO.start + timedelta(days=DEMO.days + 1)


def _cmd_demo(args: argparse.Namespace) -> int:
    cfg = settings()
    logs = Path(cfg.sources[0])
    if args.step == "prepare":
        if not logs.exists():
            print(f"Generating {DEMO.days} days of logs for {', '.join(DEMO.buckets)} "
                  f"in {logs} ...")
            write_objects(DEMO, logs.parent)
        print(f"{sum(1 for p in logs.rglob('*') if p.is_file()):,} log objects in {logs}")
    elif args.step == "range":
        first, last = demo_days()
        print(f"{first}...{last}")
    elif args.step == "upload":
        _demo_upload(Path(args.source_folder), cfg)
    else:
        _demo_report(cfg)
    return 0


DEMO_QUERIES = {
    "Usage by bucket": (
        "SELECT bucket, sum(requests) AS requests, sum(errors_4xx) AS errors_4xx, "
        "sum(errors_5xx) AS errors_5xx, sum(bytes_sent) AS bytes_sent, "
        "round(max(total_time_p95_ms), 1) AS worst_p95_ms "
        "FROM usage_daily GROUP BY bucket ORDER BY requests DESC"),
    "Estimated cost by bucket (USD)": "SELECT * FROM cost_by_bucket($first, $last)",
    "Top requesters by cost (USD)": (
        "SELECT * FROM cost_by('requester', $first, $last) LIMIT 5"),
    "Security findings": (
        "SELECT detection, severity, count(*) AS findings, sum(request_count) AS requests "
        "FROM security_findings GROUP BY detection, severity "
        "ORDER BY list_position(['high', 'medium', 'low', 'info'], severity), findings DESC"),
}


def _demo_upload(folder: Path, cfg) -> None:
    """Create the demo's log and lake buckets on the S3 endpoint and upload the logs."""
    s3, _ = _aws_clients(None)
    for attempt in range(50):  # the server may still be starting
        try:
            s3.list_buckets()
            break
        except Exception:
            if attempt == 49:
                raise
            time.sleep(0.2)
    source = cfg.sources[0][len("s3://"):]
    bucket, _, prefix = source.partition("/")
    for b in (bucket, cfg.lake[len("s3://"):].split("/")[0]):
        s3.create_bucket(Bucket=b)
    files = [p for p in folder.rglob("*") if p.is_file()]
    for p in files:
        s3.put_object(Bucket=bucket, Key=prefix + str(p.relative_to(folder)),
                      Body=p.read_bytes())
    print(f"uploaded {len(files):,} log objects to {cfg.sources[0]} "
          f"({os.environ.get('AWS_ENDPOINT_URL_S3', 'AWS')})")


def _demo_report(cfg) -> None:
    con = _warehouse_connection()
    first, last = demo_days()
    for title, sql in DEMO_QUERIES.items():
        rel = con.execute(sql, {"first": str(first), "last": str(last)} if "$" in sql else None)
        columns = [d[0] for d in rel.description]
        print(f"\n{title}\n" + format_table(columns, rel.fetchall()))
    print(f"""
Where to look next:
  the report       {cfg.report}   (open it in a browser; it works offline)
  the lake         {cfg.lake}/access_logs/dt=YYYY-MM-DD/bucket=NAME/part-00000.parquet
  ad hoc SQL       .venv/bin/s3logs query \\
                     "SELECT * FROM top_requesters('shop-assets', '{first}', '{last}')"
                   .venv/bin/s3logs shell    (views: access_logs, usage_daily, billing_daily,
                                              security_findings, quarantine, ...)
  the Dagster UI   DAGSTER_HOME=$PWD/data/dagster_home .venv/bin/dagster dev -w workspace.yaml
  more days        .venv/bin/s3logs ingest --source {cfg.sources[0]} --trailing 3""")


def _parse_size(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    try:
        return int(float(t[:-1]) * units[t[-1]]) if t[-1] in units else int(t)
    except (ValueError, IndexError) as e:
        raise UserError(f"size {text!r} is not a size such as 200MiB or 1GiB") from e


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="s3logs", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("parse", help="parse log files into a Parquet table of records")
    sp.add_argument("files", nargs="+", metavar="FILE_OR_DIR")
    sp.add_argument("--out", required=True, help="Parquet file for the records")
    sp.add_argument("--rejects", help="Parquet file for lines that could not be parsed")
    sp.add_argument("--quiet", action="store_true", help="no progress on stderr")
    sp.set_defaults(func=_cmd_parse)

    sp = sub.add_parser("synth", help="generate realistic log objects")
    sp.add_argument("out", help="folder for log objects (or the file with --single-file)")
    sp.add_argument("--start", default="2026-11-16", help="first day, YYYY-MM-DD")
    sp.add_argument("--days", type=int, default=7)
    sp.add_argument("--buckets", default="shop-assets,data-lake-raw,partner-exchange")
    sp.add_argument("--records-per-day", type=int, default=3000)
    sp.add_argument("--layout", choices=["simple", "partitioned"], default="simple")
    sp.add_argument("--partition-date-source", choices=["EventTime", "DeliveryTime"],
                    default="EventTime")
    sp.add_argument("--prefix", default="logs/")
    sp.add_argument("--seed", type=int, default=7)
    sp.add_argument("--single-file", action="store_true", help="one big file (benchmarks)")
    sp.add_argument("--size", default="1GiB", help="size of --single-file")
    sp.set_defaults(func=_cmd_synth)

    sp = sub.add_parser("ingest", help="ingest days of log objects into the Parquet lake")
    sp.add_argument("--source", action="append", required=True, metavar="URL",
                    help="s3://target-bucket/prefix/ or a local folder (repeatable)")
    sp.add_argument("--lake", default=os.environ.get("S3LOGS_LAKE", "data/lake"),
                    help="lake root: a local folder or s3:// URL (default: $S3LOGS_LAKE "
                    "or data/lake)")
    sp.add_argument("--days", help="YYYY-MM-DD or an inclusive range A..B")
    sp.add_argument("--trailing", type=int, metavar="N",
                    help="re-check the N days before today (late deliveries)")
    sp.add_argument("--today", help="what today is, for --trailing (default: UTC today)")
    sp.add_argument("--layout", choices=["auto", "simple", "partitioned"], default="auto")
    sp.add_argument("--endpoint", help="S3 endpoint URL (default: $AWS_ENDPOINT_URL_S3)")
    sp.add_argument("--force", action="store_true", help="re-ingest unchanged objects too")
    sp.add_argument("--json", action="store_true", help="print the run report as JSON")
    sp.add_argument("--quiet", action="store_true", help="no progress on stderr")
    sp.set_defaults(func=_cmd_ingest)

    sp = sub.add_parser("query", help="run SQL against the analyst warehouse")
    sp.add_argument("sql", help="e.g. \"SELECT * FROM usage_daily LIMIT 10\"")
    sp.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table")
    sp.add_argument("--out", help="write to this file instead of stdout")
    sp.add_argument("--limit", type=int, default=50, help="rows shown as a table")
    sp.set_defaults(func=_cmd_query)

    sp = sub.add_parser("shell", help="an interactive SQL prompt on the warehouse")
    sp.add_argument("--limit", type=int, default=50)
    sp.set_defaults(func=_cmd_shell)

    sp = sub.add_parser("logging", help="turn S3 server access logging on or off, or show it")
    lsub = sp.add_subparsers(dest="action", required=True)
    en = lsub.add_parser("enable", help="log a bucket into a target prefix, with the "
                         "permission S3 needs to deliver")
    en.add_argument("--source-bucket", required=True)
    en.add_argument("--target", required=True, help="s3://target-bucket/prefix/")
    en.add_argument("--partitioned", action="store_true", help="PartitionedPrefix keys "
                    "(account/region/bucket/YYYY/MM/DD/...) instead of SimplePrefix")
    en.add_argument("--event-time", action="store_true",
                    help="with --partitioned: folders by event day (the default)")
    en.add_argument("--delivery-time", action="store_true",
                    help="with --partitioned: folders by delivery day")
    di = lsub.add_parser("disable", help="stop logging a bucket")
    di.add_argument("--source-bucket", required=True)
    st = lsub.add_parser("status", help="per bucket: on?, where, layout, delivery allowed?, "
                         "read by the pipeline?")
    st.add_argument("buckets", nargs="*", help="default: every bucket of the account")
    for action in (en, di, st):
        action.add_argument("--endpoint", help="S3 endpoint URL (default: $AWS_ENDPOINT_URL_S3)")
    sp.set_defaults(func=_cmd_logging)

    sp = sub.add_parser("retention", help="lifecycle rules for raw logs; the lake's retention")
    rsub = sp.add_subparsers(dest="action", required=True)
    ap = rsub.add_parser("apply", help="write the lifecycle rule for a log prefix (other "
                         "rules are kept)")
    ap.add_argument("--target", required=True, help="s3://target-bucket/prefix/")
    ap.add_argument("--transition-days", type=int)
    ap.add_argument("--storage-class", help="e.g. STANDARD_IA, GLACIER_IR")
    ap.add_argument("--expire-days", type=int)
    sh = rsub.add_parser("show", help="the lifecycle rules that apply to a log prefix")
    sh.add_argument("--target", required=True)
    for action in (ap, sh):
        action.add_argument("--endpoint", help="S3 endpoint URL (default: $AWS_ENDPOINT_URL_S3)")
    lk = rsub.add_parser("lake", help="delete lake partitions older than --keep-days")
    lk.add_argument("--keep-days", type=int, required=True)
    lk.add_argument("--today", help="default: UTC today")
    sp.set_defaults(func=_cmd_retention)

    sp = sub.add_parser("report", help="write a self-contained HTML report")
    sp.add_argument("--start", required=True, help="first day, YYYY-MM-DD")
    sp.add_argument("--end", required=True, help="last day, YYYY-MM-DD")
    sp.add_argument("--out", default="data/report.html")
    sp.set_defaults(func=_cmd_report)

    sp = sub.add_parser("demo", help="the steps of `make demo`")
    sp.add_argument("step", choices=["prepare", "range", "upload", "report"],
                    help="prepare: generate sample logs; range: print the demo's partition "
                    "range; upload: put them on the S3 endpoint; report: the summaries")
    sp.add_argument("--from", dest="source_folder", default=DEMO_SOURCE,
                    help="with upload: the folder of generated logs")
    sp.set_defaults(func=_cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UserError, ValueError, FetchError, FileNotFoundError) as e:
        print(f"s3logs: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # the AWS errors a newcomer meets, in one sentence each
        message = _aws_error(e)
        if message is None:
            raise
        print(f"s3logs: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _aws_error(e: Exception) -> str | None:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(e, NoCredentialsError) or "Unable to locate credentials" in str(e):
        return ("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                "or AWS_PROFILE, or run `aws configure`")
    if isinstance(e, EndpointConnectionError) or "Could not connect to the endpoint" in str(e):
        return (f"cannot reach the S3 endpoint ({e}): check AWS_ENDPOINT_URL_S3 or "
                "--endpoint, and that the server is running")
    if isinstance(e, ClientError):
        code = e.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchBucket", "404"):
            return f"bucket not found ({e}): check the bucket name and the region"
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return f"access denied ({code}): the credentials in use lack permission for this"
        return f"S3 said {code}: {e}"
    if isinstance(e, PermissionError):
        return f"access denied: {e}"
    return None


if __name__ == "__main__":
    sys.exit(main())
