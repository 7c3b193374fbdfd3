"""Turning logging on and off, and retention rules, against the real local S3 endpoint."""

from __future__ import annotations

import json

import boto3
import pytest

from pipelines import bucket_logging as bl
from pipelines import retention
from pipelines.bucket_logging import LoggingSetupError


@pytest.fixture
def aws(s3, s3_endpoint):
    sts = boto3.client("sts", endpoint_url=s3_endpoint, region_name="us-east-1")
    for b in ("shop-assets", "enforced-logs", "acl-logs"):
        s3.create_bucket(Bucket=b)
    s3.put_bucket_ownership_controls(Bucket="enforced-logs", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    s3.put_bucket_ownership_controls(Bucket="acl-logs", OwnershipControls={
        "Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    return s3, sts


def test_enable_with_owner_enforced_target_writes_a_scoped_policy(aws):
    s3, sts = aws
    s3.put_bucket_policy(Bucket="enforced-logs", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Sid": "Existing", "Effect": "Deny",
                                                "Principal": {"AWS": "*"},  # moto: not "*"
                                                "Action": "s3:DeleteBucket",
                                                "Resource": "arn:aws:s3:::enforced-logs"}]}))
    changes = bl.enable(s3, sts, "shop-assets", "s3://enforced-logs/shop/", partitioned=True)
    assert any("bucket policy" in c for c in changes)
    policy = json.loads(s3.get_bucket_policy(Bucket="enforced-logs")["Policy"])
    sids = [s["Sid"] for s in policy["Statement"]]
    assert sids == ["Existing", "S3ServerAccessLogs-shop-assets"]  # merged, not replaced
    ours = policy["Statement"][1]
    assert ours["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert ours["Resource"] == "arn:aws:s3:::enforced-logs/shop/*"
    assert ours["Condition"]["ArnLike"]["aws:SourceArn"] == "arn:aws:s3:::shop-assets"
    assert ours["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
    logging = s3.get_bucket_logging(Bucket="shop-assets")["LoggingEnabled"]
    assert (logging["TargetBucket"], logging["TargetPrefix"]) == ("enforced-logs", "shop/")
    assert bl.enable(s3, sts, "shop-assets", "s3://enforced-logs/shop/", partitioned=True)[:-1] \
        == []  # idempotent: the policy is already right
    (row,) = bl.status(s3, ["shop-assets"], ["s3://enforced-logs/shop/"])
    assert row["logging"] and row["target_grants_delivery"] and row["covered_by_sources"]
    assert row["target"] == "s3://enforced-logs/shop/"


def test_enable_with_acl_target_grants_log_delivery(aws):
    s3, sts = aws
    changes = bl.enable(s3, sts, "shop-assets", "s3://acl-logs/logs/")
    assert any("Log Delivery" in c for c in changes)
    grants = s3.get_bucket_acl(Bucket="acl-logs")["Grants"]
    delivery = {g["Permission"] for g in grants
                if g["Grantee"].get("URI") == bl.LOG_DELIVERY_GROUP}
    assert delivery == {"WRITE", "READ_ACP"}
    assert any(g["Permission"] == "FULL_CONTROL" for g in grants)  # the owner's grant kept
    (row,) = bl.status(s3, ["shop-assets"], [])
    assert row["layout"] == "SimplePrefix" and row["target_grants_delivery"]
    assert row["covered_by_sources"] is False


def test_refuses_to_log_into_itself_and_disables(aws):
    s3, sts = aws
    with pytest.raises(LoggingSetupError, match="log into itself"):
        bl.enable(s3, sts, "shop-assets", "s3://shop-assets/logs/")
    bl.enable(s3, sts, "shop-assets", "s3://acl-logs/logs/")
    bl.disable(s3, "shop-assets")
    (row,) = bl.status(s3, ["shop-assets"], [])
    assert row["logging"] is False


def test_retention_merges_with_existing_rules(aws):
    s3, _ = aws
    s3.put_bucket_lifecycle_configuration(Bucket="acl-logs", LifecycleConfiguration={"Rules": [
        {"ID": "keep-me", "Status": "Enabled", "Filter": {"Prefix": "other/"},
         "Expiration": {"Days": 400}}]})
    retention.apply(s3, "s3://acl-logs/logs/", 30, "STANDARD_IA", 365)
    retention.apply(s3, "s3://acl-logs/logs/", 60, "GLACIER_IR", 400)  # replaces ours only
    rules = {r["ID"]: r for r in retention.current_rules(s3, "acl-logs")}
    assert set(rules) == {"keep-me", retention.rule_id(bl.Target("acl-logs", "logs/"))}
    (ours,) = retention.show(s3, "s3://acl-logs/logs/")
    assert ours["transitions"] == [{"Days": 60, "StorageClass": "GLACIER_IR"}]
    assert ours["expiration"] == {"Days": 400}
    with pytest.raises(LoggingSetupError, match="before the daily run"):
        retention.apply(s3, "s3://acl-logs/logs/", None, None, 5, late_days=3)


def test_cli_logging_and_retention_as_a_user_types_them(aws, s3_endpoint, tmp_path):
    import os
    import subprocess

    from tests.helpers import S3LOGS

    env = {**os.environ, "AWS_ENDPOINT_URL": s3_endpoint,
           "S3LOGS_SOURCES": "s3://enforced-logs/shop/"}

    def run(*args):
        return subprocess.run([S3LOGS, *args], capture_output=True, text=True, env=env,
                              timeout=120)

    out = run("logging", "enable", "--source-bucket", "shop-assets", "--target",
              "s3://enforced-logs/shop/", "--partitioned")
    assert out.returncode == 0, out.stderr
    assert "changed: bucket policy of enforced-logs" in out.stdout
    status = run("logging", "status", "shop-assets")
    assert "s3://enforced-logs/shop/" in status.stdout and "True" in status.stdout
    self_log = run("logging", "enable", "--source-bucket", "shop-assets", "--target",
                   "s3://shop-assets/logs/")
    assert self_log.returncode == 2 and "log into itself" in self_log.stderr
    assert "Traceback" not in self_log.stderr
    applied = run("retention", "apply", "--target", "s3://enforced-logs/shop/",
                  "--transition-days", "30", "--storage-class", "STANDARD_IA",
                  "--expire-days", "365")
    assert applied.returncode == 0 and "expired after 365 days" in applied.stdout
    assert "STANDARD_IA" in run("retention", "show", "--target",
                                "s3://enforced-logs/shop/").stdout
    missing = run("logging", "status", "no-such-bucket-here")
    assert missing.returncode == 2 and "bucket not found" in missing.stderr
    no_creds = subprocess.run([S3LOGS, "logging", "status", "shop-assets"], text=True,
                              capture_output=True, timeout=120,
                              env={"PATH": env["PATH"], "AWS_ENDPOINT_URL": s3_endpoint,
                                   "AWS_CONFIG_FILE": "/nonexistent",
                                   "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                                   "AWS_EC2_METADATA_DISABLED": "true"})
    assert no_creds.returncode == 2 and "no AWS credentials" in no_creds.stderr


def test_lake_retention_removes_only_old_partitions(tmp_path):
    from datetime import date

    from pipelines.lake.store import Lake
    from pipelines.sql.models import run_models
    from tests.helpers import D, billing_lake

    lake = billing_lake(tmp_path)
    run_models(lake, D, D, ["usage_daily"])
    before = set(lake.files("access_logs")) | set(lake.files("marts"))
    removed = retention.prune_lake(lake, keep_days=30, today=date(2026, 11, 24))
    assert removed and all("dt=2024-05-12" in f for f in removed)  # only the 2024 day
    assert set(lake.files("access_logs")) | set(lake.files("marts")) == before - set(removed)
    assert isinstance(lake, Lake)
