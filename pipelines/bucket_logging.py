"""Turn server access logging on or off for a bucket, correctly, and report its state.

S3 needs two things to deliver logs: logging configured on the source bucket
(PutBucketLogging), and permission on the target bucket. Where the target bucket enforces
object ownership (the default for buckets created since April 2023) that permission is a
bucket policy statement for the logging service principal, scoped to the source bucket's
ARN and account; where ACLs are in use it is the legacy grant to the Log Delivery group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from botocore.exceptions import ClientError

LOGGING_SERVICE = "logging.s3.amazonaws.com"
LOG_DELIVERY_GROUP = "http://acs.amazonaws.com/groups/s3/LogDelivery"


class LoggingSetupError(ValueError):
    """A configuration that cannot work; the message says why and what to do."""


@dataclass
class Target:
    bucket: str
    prefix: str

    @staticmethod
    def parse(url: str) -> Target:
        if not url.startswith("s3://") or len(url) <= 5:
            raise LoggingSetupError(f"--target {url!r}: give s3://target-bucket/prefix/")
        bucket, _, prefix = url[5:].partition("/")
        return Target(bucket, prefix)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def _sid(source_bucket: str) -> str:
    return f"S3ServerAccessLogs-{source_bucket}"[:100]


def _account(s3, sts) -> str:
    return sts.get_caller_identity()["Account"]


def _ownership(s3, bucket: str) -> str:
    try:
        rules = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]["Rules"]
        return rules[0]["ObjectOwnership"]
    except ClientError as e:
        if e.response["Error"]["Code"] == "OwnershipControlsNotFoundError":
            return "ObjectWriter"  # a bucket without controls uses ACLs
        raise


def _policy(s3, bucket: str) -> dict:
    try:
        return json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchBucketPolicy":
            return {"Version": "2012-10-17", "Statement": []}
        raise


def delivery_statement(source_bucket: str, target: Target, account: str) -> dict:
    return {
        "Sid": _sid(source_bucket),
        "Effect": "Allow",
        "Principal": {"Service": LOGGING_SERVICE},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{target.bucket}/{target.prefix}*",
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{source_bucket}"},
                      "StringEquals": {"aws:SourceAccount": account}},
    }


def enable(s3, sts, source_bucket: str, target_url: str, partitioned: bool = False,
           event_time: bool = True) -> list[str]:
    """Configure logging of `source_bucket` into `target_url`; returns what changed."""
    target = Target.parse(target_url)
    if target.bucket == source_bucket:
        raise LoggingSetupError(
            f"{source_bucket} would log into itself: every log delivery is a request that is "
            "logged again. Choose another target bucket.")
    changes = []
    ownership = _ownership(s3, target.bucket)
    if ownership == "BucketOwnerEnforced":
        account = _account(s3, sts)
        policy = _policy(s3, target.bucket)
        statement = delivery_statement(source_bucket, target, account)
        others = [s for s in policy["Statement"] if s.get("Sid") != statement["Sid"]]
        if statement not in policy["Statement"]:
            policy["Statement"] = [*others, statement]
            s3.put_bucket_policy(Bucket=target.bucket, Policy=json.dumps(policy))
            changes.append(f"bucket policy of {target.bucket}: allowed {LOGGING_SERVICE} to "
                           f"put objects under {target.prefix or '/'} for {source_bucket} "
                           f"(account {account}) only")
    else:
        acl = s3.get_bucket_acl(Bucket=target.bucket)
        grants = acl["Grants"]
        wanted = [{"Grantee": {"Type": "Group", "URI": LOG_DELIVERY_GROUP}, "Permission": p}
                  for p in ("WRITE", "READ_ACP")]
        missing = [g for g in wanted if not any(
            x["Grantee"].get("URI") == LOG_DELIVERY_GROUP and x["Permission"] == g["Permission"]
            for x in grants)]
        if missing:
            s3.put_bucket_acl(Bucket=target.bucket, AccessControlPolicy={
                "Owner": acl["Owner"], "Grants": grants + missing})
            changes.append(f"ACL of {target.bucket} (ACLs in use, ownership {ownership}): "
                           "granted the Log Delivery group WRITE and READ_ACP")
    key_format = ({"PartitionedPrefix": {"PartitionDateSource":
                                         "EventTime" if event_time else "DeliveryTime"}}
                  if partitioned else {"SimplePrefix": {}})
    s3.put_bucket_logging(Bucket=source_bucket, BucketLoggingStatus={"LoggingEnabled": {
        "TargetBucket": target.bucket, "TargetPrefix": target.prefix,
        "TargetObjectKeyFormat": key_format}})
    layout = ("PartitionedPrefix by " + ("EventTime" if event_time else "DeliveryTime")
              if partitioned else "SimplePrefix")
    changes.append(f"logging of {source_bucket}: on, into {target.url} ({layout})")
    return changes


def disable(s3, source_bucket: str) -> list[str]:
    s3.put_bucket_logging(Bucket=source_bucket, BucketLoggingStatus={})
    return [f"logging of {source_bucket}: off (the target's permissions are left as they are)"]


def status(s3, buckets: list[str], sources: list[str]) -> list[dict]:
    """Per bucket: logging on?, where to, which layout, does the target grant delivery, and
    do the pipeline's sources read it."""
    out = []
    for bucket in buckets:
        enabled = s3.get_bucket_logging(Bucket=bucket).get("LoggingEnabled")
        row = {"bucket": bucket, "logging": bool(enabled), "target": None, "layout": None,
               "target_grants_delivery": None, "covered_by_sources": None}
        if enabled:
            target = Target(enabled["TargetBucket"], enabled.get("TargetPrefix", ""))
            fmt = enabled.get("TargetObjectKeyFormat") or {}
            part = fmt.get("PartitionedPrefix")
            row.update(target=target.url,
                       layout=f"PartitionedPrefix ({part.get('PartitionDateSource', 'EventTime')})"
                       if part is not None else "SimplePrefix",
                       target_grants_delivery=_grants_delivery(s3, bucket, target),
                       covered_by_sources=any(target.url.startswith(s.rstrip("/") + "/")
                                              or target.url.rstrip("/") == s.rstrip("/")
                                              for s in sources if s.startswith("s3://")))
        out.append(row)
    return out


def _grants_delivery(s3, source_bucket: str, target: Target) -> bool:
    try:
        if _ownership(s3, target.bucket) == "BucketOwnerEnforced":
            return any(s.get("Sid") == _sid(source_bucket) or (
                s.get("Principal", {}).get("Service") == LOGGING_SERVICE
                and s.get("Effect") == "Allow") for s in _policy(s3, target.bucket)["Statement"])
        grants = s3.get_bucket_acl(Bucket=target.bucket)["Grants"]
        return {g["Permission"] for g in grants if g["Grantee"].get("URI") ==
                LOG_DELIVERY_GROUP} >= {"WRITE", "READ_ACP"}
    except ClientError:
        return False
