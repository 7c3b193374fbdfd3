"""`s3logs synth` and `s3logs demo`: sample logs, and the steps of `make demo`."""

from __future__ import annotations

import argparse
import os
from datetime import date
from pathlib import Path

from pipelines.cli.common import UserError, format_table
from pipelines.cli.common import catalog as models_catalog
from pipelines.cli.query import connection
from pipelines.config import DEMO_SOURCE, parse_size, settings
from pipelines.lake.storage import aws_clients
from pipelines.sql.session import query
from pipelines.synthetic.actors import BUCKETS
from pipelines.synthetic.demo import DEMO, demo_days, upload
from pipelines.synthetic.estate import EstateConfig
from pipelines.synthetic.estate import write_objects as write_estate
from pipelines.synthetic.incidents import INCIDENTS, Planted
from pipelines.synthetic.synth import SynthConfig, write_big_file, write_objects

# The summaries `make demo` prints, in this order (queries under sql/demo/).
SUMMARIES = ("demo_usage_by_bucket", "demo_cost_by_bucket", "demo_top_requesters_by_cost",
             "demo_findings")


def register(sub, parent: argparse.ArgumentParser) -> None:
    sp = sub.add_parser("synth", help="generate realistic log objects",
                        description="An estate of buckets and its principals' traffic "
                        "(pipelines.synthetic.estate), with incidents planted on it; --mixed for "
                        "random traffic of every line format (parser and lake tests), "
                        "--single-file for one big file (benchmarks).")
    sp.add_argument("out", help="folder for log objects (or the file with --single-file)")
    sp.add_argument("--start", default="2026-11-09", help="first day, YYYY-MM-DD")
    sp.add_argument("--days", type=int, default=14)
    sp.add_argument("--scale", type=float, default=1.0,
                    help="multiplies every principal's requests (1.0: about 25,000 a day); "
                    "any scale: above 64 a day is generated and written in blocks")
    sp.add_argument("--incident", action="append", default=[], metavar="NAME@DAY",
                    help=f"plant an incident ({', '.join(INCIDENTS)}) on a day, repeatable")
    sp.add_argument("--mixed", action="store_true",
                    help="random traffic of every line format instead of the estate")
    sp.add_argument("--buckets", default="shop-assets,data-lake-raw,partner-exchange",
                    help="with --mixed")
    sp.add_argument("--records-per-day", type=int, default=3000, help="with --mixed")
    sp.add_argument("--layout", choices=["simple", "partitioned"], default="simple")
    sp.add_argument("--partition-date-source", choices=["EventTime", "DeliveryTime"],
                    default="EventTime")
    sp.add_argument("--prefix", default="logs/")
    sp.add_argument("--seed", type=int, default=7)
    sp.add_argument("--single-file", action="store_true", help="one big file (benchmarks)")
    sp.add_argument("--size", default="1GiB", help="size of --single-file")
    sp.set_defaults(func=synth)

    sp = sub.add_parser("demo", parents=[parent], help="the steps of `make demo`")
    sp.add_argument("step", choices=["prepare", "range", "upload", "report"],
                    help="prepare: generate sample logs; range: print the demo's partition "
                    "range; upload: put them on the S3 endpoint; report: the summaries")
    sp.add_argument("--from", dest="source_folder", default=DEMO_SOURCE,
                    help="with upload: the folder of generated logs")
    sp.set_defaults(func=demo)


def synth(args: argparse.Namespace) -> int:
    if args.single_file:
        size = parse_size(args.size)
        n = write_big_file(args.out, size, seed=args.seed)
        print(f"wrote {n:,} lines ({size / 2**20:,.0f} MiB) to {args.out}")
        return 0
    if not args.mixed:
        cfg = EstateConfig(start=date.fromisoformat(args.start), days=args.days,
                           scale=args.scale, seed=args.seed,
                           incidents=tuple(_planted(text) for text in args.incident))
        keys = write_estate(cfg, args.out)
        print(f"wrote {len(keys):,} log objects for {len(BUCKETS)} buckets x {cfg.days} days"
              f" under {args.out}" + "".join(f"; {p.incident} on {p.day}"
                                             for p in cfg.incidents))
        return 0
    cfg = SynthConfig(start=date.fromisoformat(args.start), days=args.days,
                      buckets=tuple(args.buckets.split(",")), records_per_day=args.records_per_day,
                      layout=args.layout, partition_date_source=args.partition_date_source,
                      prefix=args.prefix, seed=args.seed)
    keys = write_objects(cfg, args.out)
    print(f"wrote {len(keys):,} log objects for {len(cfg.buckets)} buckets x {cfg.days} days "
          f"under {args.out}")
    return 0


def _planted(text: str) -> Planted:
    name, _, day = text.partition("@")
    if name not in INCIDENTS:
        raise UserError(f"--incident {text}: no incident {name!r} (there are "
                        f"{', '.join(INCIDENTS)})")
    try:
        return Planted(name, date.fromisoformat(day))
    except ValueError:
        raise UserError(f"--incident {text}: write NAME@YYYY-MM-DD") from None


def demo(args: argparse.Namespace) -> int:
    cfg = settings()
    logs = Path(cfg.sources[0])
    if args.step == "prepare":
        if not logs.exists():
            print(f"Generating {DEMO.days} days of logs for {', '.join(BUCKETS)} in {logs}"
                  " (incidents planted: " + ", ".join(f"{p.incident} on {p.day}"
                                                      for p in DEMO.incidents) + ") ...")
            write_estate(DEMO, logs.parent)
        print(f"{sum(1 for p in logs.rglob('*') if p.is_file()):,} log objects in {logs}")
    elif args.step == "range":
        first, last = demo_days()
        print(f"{first}...{last}")
    elif args.step == "upload":
        s3, _ = aws_clients(args.endpoint)
        n = upload(s3, Path(args.source_folder), cfg.sources[0], cfg.lake)
        print(f"uploaded {n:,} log objects to {cfg.sources[0]} "
              f"({os.environ.get('AWS_ENDPOINT_URL_S3', 'AWS')})")
    else:
        summaries(args, cfg)
    return 0


def summaries(args: argparse.Namespace, cfg) -> None:
    con = connection(args)
    catalog = models_catalog(args)
    first, last = demo_days()
    for name in SUMMARIES:
        rel = query(con, catalog[name], first.isoformat(), last.isoformat())
        print(f"\n{catalog[name].description}\n"
              + format_table(rel.columns, rel.fetchall(), width=70))
    print(f"""
Where to look next:
  the report       {cfg.report}   (open it in a browser; it works offline)
  the lake         {cfg.lake}/access_logs/dt=YYYY-MM-DD/bucket=NAME/part-00000.parquet
  ad hoc SQL       .venv/bin/s3logs query \\
                     "SELECT * FROM top_requesters('shop-website', '{first}', '{last}')"
                   .venv/bin/s3logs query --list    (what the warehouse holds)
                   .venv/bin/s3logs shell
  the Dagster UI   DAGSTER_HOME=$PWD/data/dagster_home .venv/bin/dagster dev -w workspace.yaml
  more days        .venv/bin/s3logs ingest --source {cfg.sources[0]} --trailing 3""")
