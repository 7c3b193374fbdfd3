"""`s3logs retention`: lifecycle rules for raw logs, and the lake's own retention."""

from __future__ import annotations

import argparse

from pipelines import retention
from pipelines.cli.common import format_table, lake, today
from pipelines.config import settings
from pipelines.lake.storage import aws_clients


def register(sub, parent: argparse.ArgumentParser) -> None:
    sp = sub.add_parser("retention", help="lifecycle rules for raw logs; the lake's retention")
    rsub = sp.add_subparsers(dest="action", required=True)
    ap = rsub.add_parser("apply", parents=[parent], help="write the lifecycle rule for a log "
                         "prefix (other rules are kept)")
    ap.add_argument("--target", required=True, help="s3://target-bucket/prefix/")
    ap.add_argument("--transition-days", type=int)
    ap.add_argument("--storage-class", help="e.g. STANDARD_IA, GLACIER_IR")
    ap.add_argument("--expire-days", type=int)
    sh = rsub.add_parser("show", parents=[parent], help="the lifecycle rules that apply to a "
                         "log prefix")
    sh.add_argument("--target", required=True)
    lk = rsub.add_parser("lake", parents=[parent], help="delete lake partitions older than "
                         "--keep-days")
    lk.add_argument("--keep-days", type=int, required=True)
    lk.add_argument("--today", help="default: UTC today")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "lake":
        removed = retention.prune_lake(lake(args), args.keep_days, today(args.today))
        print(f"removed {len(removed):,} lake files older than {args.keep_days} days")
        return 0
    s3, _ = aws_clients(args.endpoint)
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
