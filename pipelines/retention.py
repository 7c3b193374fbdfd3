"""Retention of raw log objects (S3 lifecycle rules) and of the lake itself.

AWS manages neither: raw log objects pile up in the target bucket forever unless a
lifecycle rule expires them. The safe pattern is to transition them to a cheaper class
soon and to expire them only well after the pipeline has ingested them (the daily run
re-checks S3LOGS_LATE_DAYS days; keep raw logs at least a few times longer, and longer
still if you may need to re-ingest after a parser change).
"""

from __future__ import annotations

import hashlib
from datetime import date

from botocore.exceptions import ClientError

from pipelines.bucket_logging import LoggingSetupError, Target

STORAGE_CLASSES = {"STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR",
                   "GLACIER", "DEEP_ARCHIVE"}


def rule_id(target: Target) -> str:
    return "s3logs-raw-logs-" + hashlib.sha256(target.prefix.encode()).hexdigest()[:12]


def current_rules(s3, bucket: str) -> list[dict]:
    try:
        return s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchLifecycleConfiguration":
            return []
        raise


def apply(s3, target_url: str, transition_days: int | None, storage_class: str | None,
          expire_days: int | None, late_days: int = 3) -> list[str]:
    """Write (or replace) our lifecycle rule for the prefix, keeping every other rule."""
    target = Target.parse(target_url)
    if transition_days is None and expire_days is None:
        raise LoggingSetupError("give --transition-days with --storage-class, "
                                "or --expire-days, or both")
    if transition_days is not None and storage_class not in STORAGE_CLASSES:
        raise LoggingSetupError(f"--storage-class must be one of {sorted(STORAGE_CLASSES)}")
    if expire_days is not None and expire_days <= 2 * max(late_days, 1):
        raise LoggingSetupError(
            f"--expire-days {expire_days} would delete raw logs before the daily run has "
            f"re-checked them ({late_days} late days); keep them at least "
            f"{2 * max(late_days, 1) + 1} days")
    if transition_days is not None and expire_days is not None and \
            expire_days <= transition_days:
        raise LoggingSetupError("--expire-days must be later than --transition-days")
    rule: dict = {"ID": rule_id(target), "Status": "Enabled",
                  "Filter": {"Prefix": target.prefix}}
    if transition_days is not None:
        rule["Transitions"] = [{"Days": transition_days, "StorageClass": storage_class}]
    if expire_days is not None:
        rule["Expiration"] = {"Days": expire_days}
    others = [r for r in current_rules(s3, target.bucket) if r.get("ID") != rule["ID"]]
    s3.put_bucket_lifecycle_configuration(Bucket=target.bucket,
                                          LifecycleConfiguration={"Rules": [*others, rule]})
    what = []
    if transition_days is not None:
        what.append(f"to {storage_class} after {transition_days} days")
    if expire_days is not None:
        what.append(f"expired after {expire_days} days")
    return [f"lifecycle of {target.bucket}: raw logs under {target.prefix or '/'} "
            f"{' and '.join(what)} (rule {rule['ID']}; {len(others)} other rules kept)"]


def show(s3, target_url: str) -> list[dict]:
    """The lifecycle rules of the target bucket that apply to the log prefix."""
    target = Target.parse(target_url)
    applies = []
    for r in current_rules(s3, target.bucket):
        prefix = (r.get("Filter") or {}).get("Prefix", r.get("Prefix", ""))
        if target.prefix.startswith(prefix) or prefix.startswith(target.prefix):
            applies.append({"id": r.get("ID"), "status": r.get("Status"), "prefix": prefix,
                            "transitions": r.get("Transitions", []),
                            "expiration": r.get("Expiration")})
    return applies


def prune_lake(lake, keep_days: int, today: date) -> list[str]:
    """Delete lake partitions (records, quarantine, model results) older than `keep_days`:
    the lake's own retention, a setting of its own (S3LOGS_LAKE_RETENTION_DAYS)."""
    cutoff = date.fromordinal(today.toordinal() - keep_days).isoformat()
    removed = []
    for table in ("access_logs", "quarantine", "marts"):
        for path in lake.files(table):
            dt = path.split("dt=")[1][:10] if "dt=" in path else None
            if dt and dt < cutoff:
                lake.fs.rm(path)
                removed.append(path)
    return removed
