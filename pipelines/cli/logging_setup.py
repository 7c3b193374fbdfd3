"""`s3logs logging`: turn S3 server access logging on or off, or show it."""

from __future__ import annotations

import argparse

from pipelines import bucket_logging
from pipelines.cli.common import format_table
from pipelines.config import settings
from pipelines.lake.storage import aws_clients


def register(sub, parent: argparse.ArgumentParser) -> None:
    sp = sub.add_parser("logging", help="turn S3 server access logging on or off, or show it")
    lsub = sp.add_subparsers(dest="action", required=True)
    en = lsub.add_parser("enable", parents=[parent], help="log a bucket into a target "
                         "prefix, with the permission S3 needs to deliver")
    en.add_argument("--source-bucket", required=True)
    en.add_argument("--target", required=True, help="s3://target-bucket/prefix/")
    en.add_argument("--partitioned", action="store_true", help="PartitionedPrefix keys "
                    "(account/region/bucket/YYYY/MM/DD/...) instead of SimplePrefix")
    en.add_argument("--event-time", action="store_true",
                    help="with --partitioned: folders by event day (the default)")
    en.add_argument("--delivery-time", action="store_true",
                    help="with --partitioned: folders by delivery day")
    di = lsub.add_parser("disable", parents=[parent], help="stop logging a bucket")
    di.add_argument("--source-bucket", required=True)
    st = lsub.add_parser("status", parents=[parent], help="per bucket: on?, where, layout, "
                         "delivery allowed?, read by the pipeline?")
    st.add_argument("buckets", nargs="*", help="default: every bucket of the account")
    sp.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    s3, sts = aws_clients(args.endpoint)
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
