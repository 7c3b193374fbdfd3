"""`s3logs policy check`, `s3logs audit` and `s3logs alerts`: access policies, the
evidence an auditor keeps, and the alerts a security team acts on."""

from __future__ import annotations

import argparse

import pyarrow.compute as pc

from pipelines.cli.common import (
    UserError,
    catalog,
    format_table,
    lake,
    parse_days,
    policy_files,
    today,
    write_csv,
)
from pipelines.config import settings
from pipelines.security import alerts, policy
from pipelines.sql.session import glob_literal, query, session
from pipelines.textsafe import visible


def register(sub, parent: argparse.ArgumentParser) -> None:
    sp = sub.add_parser("policy", help="validate an access policy file")
    sp.add_argument("action", choices=["check"])
    sp.add_argument("file", nargs="?", help="the YAML file (default: $S3LOGS_POLICIES)")
    sp.set_defaults(func=policy_check)

    sp = sub.add_parser("audit", parents=[parent],
                        help="who accessed what, from where, with what result",
                        description="Every request to a bucket (one key, or the keys under "
                        "a prefix) over a range of days, with request ids and the access "
                        "policy rules each broke.")
    sp.add_argument("--bucket", required=True)
    what = sp.add_mutually_exclusive_group()
    what.add_argument("--key", help="one object key (decoded, as you would write it)")
    what.add_argument("--prefix", help="the keys under this prefix")
    sp.add_argument("--from", dest="first", required=True, help="first day, YYYY-MM-DD")
    sp.add_argument("--to", dest="last", required=True, help="last day, YYYY-MM-DD")
    sp.add_argument("--principal", default="*",
                    help="an ARN glob, e.g. 'arn:aws:sts::*:assumed-role/PaymentsApp*'")
    sp.add_argument("--format", choices=["table", "csv"], default="table")
    sp.add_argument("--out", help="write the CSV to this file instead of stdout")
    sp.add_argument("--limit", type=int, default=100, help="rows shown as a table")
    sp.set_defaults(func=audit)

    sp = sub.add_parser("alerts", parents=[parent],
                        help="post new findings to the alert webhook")
    sp.add_argument("--days", required=True, help="YYYY-MM-DD or A..B")
    sp.add_argument("--today", help="what today is (default: UTC today): older findings "
                    "than S3LOGS_ALERT_MAX_AGE_DAYS (3) days before it are not alerted")
    sp.set_defaults(func=send_alerts)


def policy_check(args: argparse.Namespace) -> int:
    path = args.file or policy_files(args).policies
    if not path:
        raise UserError("say which file: s3logs policy check FILE, or set S3LOGS_POLICIES")
    print(policy.check(path))
    return 0


def audit(args: argparse.Namespace) -> int:
    first, last = parse_days(args.first)[0], parse_days(args.last)[-1]
    if last < first:
        raise UserError(f"--to {last} is before --from {first}")
    key_glob = "*"
    if args.key:
        key_glob = glob_literal(args.key)
    elif args.prefix:
        key_glob = glob_literal(args.prefix) + "*"
    con = session(lake(args), catalog(args), policy_files=policy_files(args))
    try:
        table = query(con, catalog(args)["audit_access"], first.isoformat(), last.isoformat(),
                      bucket=glob_literal(args.bucket), key_glob=key_glob,
                      principal=args.principal).to_arrow_table()
    finally:
        con.close()
    violations = pc.binary_join(table["policy_violations"], "; ")
    table = table.set_column(table.schema.get_field_index("policy_violations"),
                             "policy_violations", violations)
    if args.format == "csv":
        write_csv(table, args.out)
        return 0
    print(format_table(table.column_names, [tuple(r.values()) for r in
                                            table.slice(0, args.limit).to_pylist()]))
    broke = pc.sum(pc.not_equal(violations, "")).as_py() or 0
    shown = f" (first {args.limit} shown; --format csv for all)" \
        if table.num_rows > args.limit else ""
    print(f"\n{table.num_rows:,} requests from {first} to {last}{shown}; "
          f"{broke:,} broke the access policy")
    return 0


def send_alerts(args: argparse.Namespace) -> int:
    days, config = parse_days(args.days), settings()
    run = alerts.alert(lake(args), days[0], days[-1], today(args.today),
                       webhook=config.alert_webhook, min_severity=config.alert_severity,
                       max_age_days=config.alert_max_age_days)
    if config.alert_webhook is None:
        print(f"{run.candidates:,} findings at {config.alert_severity} or above; "
              "S3LOGS_ALERT_WEBHOOK is not set, so none was sent")
        return 0
    print(visible(f"{run.sent:,} findings sent in {run.messages:,} messages; "
                  f"{run.already_sent:,} were sent before"
                  + "".join(f"; no answer for {u} (posted again by the next run)"
                            for u in run.unknown)))
    alerts.check(run, config.alert_webhook)
    return 0

