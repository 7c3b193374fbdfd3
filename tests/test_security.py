"""Access policies, finding lifecycles, alerts and audits: what a security team acts on."""

from __future__ import annotations

import csv
import io
import subprocess
import threading
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipelines.ingestion.ingest import ingest
from pipelines.ingestion.sources import LogSource
from pipelines.lake.store import Lake
from pipelines.security import alerts, policy
from pipelines.security.addresses import cidr_range, ip_key
from pipelines.security.policy_file import PolicyError
from pipelines.sql.catalog import load
from pipelines.sql.session import session
from pipelines.synthetic.estate import EstateConfig, write_objects
from pipelines.synthetic.incidents import INCIDENTS, Planted
from tests.helpers import DEMO_POLICY, GIB, S3LOGS, findings, make_lake
from tests.helpers import PAYMENTS_APP as APP
from tests.helpers import PAYMENTS_DAY as DAY
from tests.helpers import payments_requests as req
from tests.loglines import line

ROOT = Path(__file__).resolve().parents[1]
ETL = "arn:aws:sts::111122223333:assumed-role/PaymentsETL/etl"


# -- the policy file -----------------------------------------------------------------------

def test_addresses_compare_as_keys_across_families():
    lo, hi = cidr_range("10.0.0.0/8")
    assert lo <= ip_key("10.20.1.11") <= hi and not lo <= ip_key("11.0.0.1") <= hi
    lo6, hi6 = cidr_range("2001:db8:4f1e::/48")
    assert lo6 <= ip_key("2001:db8:4f1e::a1") <= hi6 and not lo6 <= ip_key("2001:db8::1") <= hi6
    assert ip_key("-") is None and ip_key("::ffff:10.0.0.1") == ip_key("10.0.0.1")


@pytest.mark.parametrize("text, line_no, words", [
    ("buckets:\n  b:\n    anonymous: maybe\n", 3, "b.anonymous must be deny, read, write or allow"),
    ("buckets:\n  b:\n    networks: [\"10.0.0.0/33\"]\n", 3, "b.networks has '10.0.0.0/33'"),
    ("buckets:\n  b:\n    principal: [x]\n", 3, "b.principal is not a known key"),
    ("buckets:\n  b:\n    min_tls: \"2.0\"\n", 3, "b.min_tls must be"),
    ("buckets: {}\nsuppressions:\n  - detection: x\n    expires: 2027-01-01\n", 3,
     "suppressions[0] needs `reason`"),
    ("buckets: {}\nsuppressions:\n  - detection: nope\n    reason: r\n    expires: 2027-01-01\n",
     3, "suppressions[0].detection 'nope' matches no detection"),
    ("buckets: {}\nsuppressions:\n  - reason: r\n    expires: 2027-01-01\n", 3,
     "names no detection, bucket, principal or network"),
    ("buckets: {}\nsuppressions:\n  - bucket: b\n    reason: r\n    expires: soon\n", 5,
     "suppressions[0].expires has 'soon', which is not a day"),
    ("buckets: {}\nseverities:\n  new_network: urgent\n", 3,
     "severities.new_network must be one of"),
    ("buckets: {}\nseverities:\n  policy_netwrok: low\n", 3,
     "severities.policy_netwrok is not a detection"),
    ("severities: {}\n", 1, "has no `buckets:` entry"),
    ("buckets: [\n", 2, "not valid YAML"),
])
def test_a_policy_file_mistake_is_one_sentence_naming_file_line_and_key(tmp_path, text,
                                                                         line_no, words):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as e:
        policy.check(str(path))
    message = str(e.value)
    assert message.startswith(f"{path}, line {line_no}: ") and words in message, message
    assert len(message.splitlines()) == 1


def test_an_empty_policy_file_is_refused_not_read_as_allowing_everything(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("# nothing yet\n")
    with pytest.raises(PolicyError, match="declares nothing"):
        policy.check(str(path))


def test_a_run_with_a_broken_policy_stops_and_says_why(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("buckets:\n  b:\n    anonymous: perhaps\n")
    make_lake(tmp_path, {DAY: req()})
    env = {"S3LOGS_POLICIES": str(bad), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([S3LOGS, "models", "run", "--lake", str(tmp_path / "lake"),
                          "--days", str(DAY)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert f"{bad}, line 3: b.anonymous must be deny, read, write or allow" in out.stderr
    checked = subprocess.run([S3LOGS, "policy", "check", str(ROOT / "examples" /
                                                             "policies.yaml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and "valid" in checked.stdout


def test_policy_violations_name_the_rule_and_spare_aws_and_refused_requests(tmp_path):
    lake = make_lake(tmp_path, {DAY: [
        *req(3),                                                        # allowed: quiet
        *req(2, requester="-", signature_version="-", authentication_type="-"),
        *req(1, requester="arn:aws:iam::999988887777:user/stranger"),
        *req(1, requester=ETL, operation="REST.PUT.OBJECT",             # read-only principal
             request_uri='"PUT /payments-prod/x HTTP/1.1"'),
        *req(1, remote_ip="203.0.113.50"),
        *req(1, remote_ip="2001:db8:ffff::1"),
        *req(1, tls_version="TLSv1.1"),
        *req(4, requester="arn:aws:iam::999988887777:user/stranger", http_status="403",
             error_code="AccessDenied", remote_ip="10.20.1.11"),        # refused: no access
        *req(2, requester="AmazonS3", remote_ip="-", operation="S3.EXPIRE.OBJECT"),
        *req(2, requester="arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForConfig/x",
             remote_ip="52.1.1.1"),
        # what a client can claim does not make it AWS: its user agent, a name with a dot
        *req(1, requester="arn:aws:iam::999988887777:user/sneaky",
             user_agent='"aws-internal/3 aws-sdk-java/1.12"'),
        *req(1, requester="arn:aws:iam::999988887777:user/backup.amazonaws.com"),
        # the public website: anonymous readers are expected there
        *req(5, bucket="shop-website", requester="-", remote_ip="81.2.69.160",
             signature_version="-", authentication_type="-"),
    ]})
    found = findings(lake, DAY, DAY)
    policy_rows = {(r["detection"], r["principal"]): r for r in found
                   if r["detection"].startswith("policy_")}
    stranger = "arn:aws:iam::999988887777:user/stranger"
    assert ("policy_anonymous", "anonymous") in policy_rows
    assert policy_rows[("policy_principal", stranger)]["request_count"] == 1
    for name in ("sneaky", "backup.amazonaws.com"):
        assert ("policy_principal", f"arn:aws:iam::999988887777:user/{name}") in policy_rows
    assert ("policy_principal", ETL.rsplit("/", 1)[0]) in policy_rows   # wrote
    # one finding for the principal, its two networks listed with their requests
    network = policy_rows[("policy_network", APP.rsplit("/", 1)[0])]
    assert network["addresses"] == [{"address": "2001:0db8:ffff::/48", "requests": 1},
                                    {"address": "203.0.113.0/24", "requests": 1}]
    assert (network["address_count"], network["request_count"]) == (2, 2)
    tls = [r for r in found if r["detection"] == "policy_tls"]
    assert len(tls) == 1 and "TLS below 1.2" in tls[0]["rule"]
    assert all("payments-prod" in r["rule"] for r in policy_rows.values())
    assert {r["severity"] for r in policy_rows.values()} <= {"medium", "high"}
    aws = {"AmazonS3", "arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForConfig"}
    assert not [r for r in found if r["principal"] in aws
                and r["detection"] != "lifecycle_expirations"]
    assert not [r for r in found if r["bucket"] == "shop-website"]


def test_a_weekly_job_is_judged_by_its_weeks_and_a_new_principal_by_the_floor(tmp_path):
    """A backup role that lists the bucket 210 times each Friday has three weeks of
    history, though it was active on three days: 230 listings on the fourth Friday is its
    routine. A role first seen two days ago has no baseline: the floor (200) alone judges
    it."""
    backup = "arn:aws:sts::111122223333:assumed-role/BackupRole/b"
    fresh = "arn:aws:sts::111122223333:assumed-role/NewSync/s"

    def listings(day: date, n: int, who: str, ip: str) -> list[bytes]:
        return req(n, requester=who, remote_ip=ip, operation="REST.GET.BUCKET", key="-",
                   time=f"[{day:%d/%b/%Y}:02:00:00 +0000]")

    fridays = {DAY - timedelta(days=7 * w): listings(DAY - timedelta(days=7 * w), 210, backup,
                                                      "10.30.9.5") for w in (1, 2, 3)}
    before = DAY - timedelta(days=2)
    lines = {**fridays, before: listings(before, 10, fresh, "10.40.1.1")}
    lines[DAY] = listings(DAY, 230, backup, "10.30.9.5") + listings(DAY, 230, fresh,
                                                                     "10.40.1.1")
    found = [r for r in findings(make_lake(tmp_path, lines), DAY, DAY)
             if r["detection"] == "enumeration"]
    assert [r["principal"] for r in found] == [fresh.rsplit("/", 1)[0]]


def test_one_incident_is_one_finding_with_its_addresses_listed_and_counted(tmp_path):
    """A principal's credentials used from 150 networks the policy does not allow are one
    policy_network finding: the networks as a list (the busiest first, at most
    finding.max_addresses), their number, and the busiest in words."""
    leak = [r for i in range(150)
            for r in req(2 if i == 7 else 1, remote_ip=f"198.{i // 100 + 18}.{i % 100}.9")]
    found = findings(make_lake(tmp_path, {DAY: req(3) + leak}), DAY, DAY)
    (row,) = [r for r in found if r["detection"] == "policy_network"]
    assert (row["principal"], row["request_count"], row["address_count"]) == \
        (APP.rsplit("/", 1)[0], 151, 150)
    assert len(row["addresses"]) == 100
    assert row["addresses"][0] == {"address": "198.18.7.0/24", "requests": 2}
    assert row["sources"] == "198.18.7.0/24 (2), 198.18.0.0/24 (1), 198.18.1.0/24 (1) " \
                             "and 147 more"


def test_a_suppression_by_network_covers_a_finding_only_if_it_holds_every_address(
        tmp_path):
    file = tmp_path / "p.yaml"
    file.write_text((ROOT / "examples" / "policies.yaml").read_text() + """\
  - detection: policy_network
    bucket: payments-prod
    network: 203.0.113.0/24
    reason: "the payment provider's callback range"
    expires: 2026-12-31
""")
    day2 = DAY + timedelta(days=1)
    lake = make_lake(tmp_path, {
        DAY: req(2, remote_ip="203.0.113.5"),
        day2: req(2, remote_ip="203.0.113.5", time=f"[{day2:%d/%b/%Y}:12:00:00 +0000]")
        + req(1, remote_ip="198.51.100.9", time=f"[{day2:%d/%b/%Y}:13:00:00 +0000]")})
    rows = {r["dt"]: r for r in findings(lake, DAY, day2, replace(DEMO_POLICY,
                                                                 policies=str(file)))
            if r["detection"] == "policy_network"}
    assert rows[DAY.isoformat()]["suppressed"]
    assert not rows[day2.isoformat()]["suppressed"]       # someone else is in it too
    assert rows[day2.isoformat()]["address_count"] == 2


def test_anonymous_access_by_kind_and_anonymous_writes_high_with_or_without_a_file(
        tmp_path):
    """`anonymous: read` expects readers only, `write` object writes and deletes too, `allow`
    anything; an anonymous write, delete or change the bucket's entry does not expect (or
    on a bucket no entry covers) is `anonymous_write`, high, one row per bucket and day."""
    path = tmp_path / "p.yaml"
    path.write_text("buckets:\n  pub-read:\n    anonymous: read\n  drop-box:\n"
                    "    anonymous: write\n  open-all:\n    anonymous: allow\n"
                    "  closed:\n    anonymous: deny\n")
    files = replace(DEMO_POLICY, policies=str(path))
    anon = dict(requester="-", signature_version="-", authentication_type="-")
    kinds = {"read": dict(operation="REST.GET.OBJECT"),
             "write": dict(operation="REST.PUT.OBJECT", request_uri='"PUT /b/k HTTP/1.1"'),
             "delete": dict(operation="REST.DELETE.OBJECT", http_status="204",
                            request_uri='"DELETE /b/k HTTP/1.1"'),
             "configure": dict(operation="REST.PUT.ACL", key="-",
                               request_uri='"PUT /b?acl HTTP/1.1"')}
    buckets = ["pub-read", "drop-box", "open-all", "closed", "uncovered"]
    lake = make_lake(tmp_path, {DAY: [r for b in buckets for i, (k, f) in enumerate(kinds.items())
                                    for r in req(1, bucket=b, remote_ip=f"81.2.69.{i + 1}",
                                                 **anon, **f)]})
    found = findings(lake, DAY, DAY, files)
    writes = {r["bucket"]: r for r in found if r["detection"] == "anonymous_write"}
    assert set(writes) == {"pub-read", "drop-box", "closed", "uncovered"}
    assert {b: writes[b]["request_count"] for b in writes} == \
        {"pub-read": 3, "drop-box": 1, "closed": 3, "uncovered": 3}
    assert all(r["severity"] == "high" and r["principal"] == "anonymous"
               for r in writes.values())
    assert "REST.PUT.ACL" in writes["drop-box"]["rule"] and \
        "reads only" in writes["pub-read"]["rule"]
    assert [(r["bucket"], r["request_count"]) for r in found
            if r["detection"] == "policy_anonymous"] == [("closed", 1)]    # the read
    assert [(r["bucket"], r["request_count"]) for r in found
            if r["detection"] == "anonymous_access"] == [("uncovered", 1)]
    found = findings(lake, DAY, DAY, replace(files, policies=None))  # without: every write
    assert {r["bucket"] for r in found if r["detection"] == "anonymous_write"} == set(buckets)


BEFORE = [DAY - timedelta(days=i) for i in range(8, 0, -1)]   # a baseline's worth


def presigned(url_time: str, key: str = "exports/x.csv", **fields) -> list[bytes]:
    uri = (f'"GET /payments-prod/{key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA'
           f'%2F20261120%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date={url_time}&X-Amz-Expires='
           f'3600&X-Amz-SignedHeaders=host&X-Amz-Signature=XXXXXXXX HTTP/1.1"')
    return req(1, key=key, request_uri=uri, authentication_type="QueryString", **fields)


def test_presigned_urls_are_their_own_subject_not_their_signers_networks(tmp_path):
    """One URL (signer, key, signing time) used from 30 addresses is one presigned_shared
    finding; 30 URLs of one key, each used once, are not; neither teaches or breaks the
    signer's networks (no new_network, no policy_network)."""
    history = {d: req(5, time=f"[{d:%d/%b/%Y}:12:00:00 +0000]") for d in BEFORE}
    leaked = [r for i in range(30) for r in presigned("20261120T100000Z",
                                                      remote_ip=f"81.2.69.{i + 1}")]
    handed_out = [r for i in range(30) for r in presigned(f"20261120T10{i:02d}00Z",
                                                          key="thumbs/a.jpg",
                                                          remote_ip=f"81.2.70.{i + 1}")]
    lake = make_lake(tmp_path, history | {DAY: req(5) + leaked + handed_out})
    found = findings(lake, DAY, DAY)
    shared = [r for r in found if r["detection"] == "presigned_shared"]
    assert [(r["principal"], r["request_count"], r["severity"]) for r in shared] == \
        [(APP.rsplit("/", 1)[0], 30, "medium")]
    assert shared[0]["rule"] == "30 addresses used one presigned URL of exports/x.csv"
    assert not [r for r in found if r["detection"] in ("new_network", "policy_network")]


def test_a_principal_the_policy_lists_is_not_new_and_young_ones_have_no_volume_finding(
        tmp_path):
    """Where the policy lists principals, none is new_principal (unlisted ones are
    policy_principal); a principal's byte baseline averages the
    days it existed, and below the minimum history it has no volume finding at all."""
    def at(d: date) -> str:
        return f"[{d:%d/%b/%Y}:12:00:00 +0000]"
    svc = "arn:aws:sts::111122223333:assumed-role/NewService/x"
    days = {d: req(5, time=at(d)) for d in BEFORE}
    for d in BEFORE[-3:]:          # a service three days old, 2 GiB a day
        days[d] += req(2, requester=svc, bytes_sent=str(GIB), time=at(d))
    days[DAY] = [*req(5), *req(2, requester=ETL),            # listed (read-only): not new
                 *req(1, requester="arn:aws:iam::999988887777:user/stranger"),
                 *req(3, requester=svc, bytes_sent=str(4 * GIB))]   # 12 GiB, young
    lake = make_lake(tmp_path, days)
    found = findings(lake, DAY, DAY)
    stranger = "arn:aws:iam::999988887777:user/stranger"
    # where the policy lists the bucket's principals it says who is expected: the stranger
    # is one policy_principal finding, the listed ETL role nothing, and nobody is "new"
    assert not [r for r in found if r["detection"] == "new_principal"]
    assert {r["principal"] for r in found if r["detection"] == "policy_principal"} == \
        {stranger, svc.rsplit("/", 1)[0]}
    assert not [r for r in found if r["detection"] == "exfiltration"]


def test_a_viral_day_on_a_public_bucket_is_low_unless_it_costs_money(tmp_path):
    """Anonymous readers with a baseline are a public bucket's audience: ten times as many
    is low, with its estimated cost; past public_cost_usd (100) it is medium again."""
    anon = dict(requester="-", signature_version="-", authentication_type="-",
                remote_ip="81.2.69.160")

    def day(d: date, n: int, sent: int) -> list[bytes]:
        at = f"[{d:%d/%b/%Y}:12:00:00 +0000]"
        return [*req(n, bucket="shop-website", time=at, bytes_sent=str(sent), **anon),
                *req(n, bucket="open-data", time=at, bytes_sent=str(sent * 100), **anon)]
    lake = make_lake(tmp_path, {d: day(d, 150, 10_000) for d in BEFORE}
                   | {DAY: day(DAY, 1500, 10_000)})
    spikes = {r["bucket"]: r for r in findings(lake, DAY, DAY)
              if r["detection"] == "request_rate_spike"}
    assert spikes["shop-website"]["severity"] == "low"          # $0.00: 15 MB, 1,500 GETs
    assert "about $0.00 at list prices" in spikes["shop-website"]["rule"]
    assert spikes["open-data"]["severity"] == "low"             # 1.5 GB: $0.14
    big = {d: day(d, 150, 10_000_000) for d in BEFORE} | {DAY: day(DAY, 1500, 10_000_000)}
    (tmp_path / "big").mkdir()
    spikes = {r["bucket"]: r for r in findings(make_lake(tmp_path / "big", big), DAY, DAY)
              if r["detection"] == "request_rate_spike"}
    assert spikes["open-data"]["severity"] == "medium"          # 1.5 TB out: about $135
    assert spikes["shop-website"]["severity"] == "low"          # 15 GB: about $1.35


# Operation names as S3 writes them in server access logs: REST.<method>.<resource>, the
# resource as the GET of the same configuration is logged (REST.GET.LOGGING_STATUS,
# REST.GET.PUBLIC_ACCESS_BLOCK, REST.GET.BUCKETPOLICY, REST.GET.TAGGING and the others in
# the log-format notes and AWS's "Amazon S3 server access log format" examples).
DOCUMENTED_CONFIG = {
    "ACL", "BUCKETPOLICY", "PUBLIC_ACCESS_BLOCK", "LOGGING_STATUS", "OWNERSHIP_CONTROLS",
    "ENCRYPTION", "VERSIONING", "REPLICATION", "OBJECT_LOCK_CONFIGURATION", "LIFECYCLE",
    "CORS", "WEBSITE", "NOTIFICATION", "TAGGING", "REQUEST_PAYMENT"}


def test_config_operations_are_named_as_the_logs_name_them_and_unknown_ones_still_caught(
        tmp_path):
    catalog = load()
    rows = list(csv.DictReader(io.StringIO(catalog.read_bytes(
        catalog["config_operations"].seed_file).decode())))
    for r in rows:
        method, resource = r["operation"].split(".")[1:]
        assert r["operation"].startswith("REST.") and method in ("PUT", "DELETE") \
            and resource in DOCUMENTED_CONFIG, r["operation"]
    lake = make_lake(tmp_path, {DAY: [
        *req(1, operation="REST.PUT.PUBLIC_ACCESS_BLOCK", key="-", remote_ip="10.0.0.7"),
        *req(1, operation="REST.PUT.INTELLIGENT_TIERING", key="-", remote_ip="10.0.0.8"),
        *req(1, operation="REST.PUT.OBJECT_LOCK_RETENTION", remote_ip="10.0.0.9"),  # a key
        *req(3, operation="REST.PUT.OBJECT", remote_ip="10.0.0.9")]})
    (change,) = [r for r in findings(lake, DAY, DAY) if r["detection"] == "config_change"]
    assert {a["address"] for a in change["addresses"]} == {"10.0.0.7", "10.0.0.8"}
    assert change["severity"] == "high"   # the worst of its operations
    assert "public access block (REST.PUT.PUBLIC_ACCESS_BLOCK)" in change["rule"]
    assert "no list names (REST.PUT.INTELLIGENT_TIERING)" in change["rule"]


# -- realistic traffic: every incident found, benign days quiet ---------------------------

@pytest.fixture(scope="module")
def estate_lakes(tmp_path_factory):
    """Sixteen days of a small estate, with and without the incidents on the last two."""
    start, days = date(2026, 10, 26), 16
    last_two = [start + timedelta(days=14), start + timedelta(days=15)]
    planted = tuple(Planted(name, last_two[i % 2]) for i, name in enumerate(INCIDENTS))
    out = {}
    for name, incidents in (("benign", ()), ("planted", planted)):
        folder = tmp_path_factory.mktemp(name)
        write_objects(EstateConfig(start=start, days=days, scale=0.08, seed=5,
                                   incidents=incidents), folder)
        lake = Lake(str(folder / "lake"))
        every = [start + timedelta(days=i) for i in range(days + 1)]
        ingest([LogSource(str(folder / "logs"), layout="simple")], lake, every,
               progress=False)
        out[name] = (lake, findings(lake, every[0], every[-1]), planted)
    return out


def test_every_planted_incident_is_found_at_medium_or_above(estate_lakes):
    _, found, planted = estate_lakes["planted"]
    missed = []
    for p in planted:
        incident = INCIDENTS[p.incident]
        if not any(f["dt"] == p.day.isoformat() and f["bucket"] == incident.bucket
                   and f["detection"] in incident.detections
                   and f["severity"] in ("medium", "high") for f in found):
            missed.append(p.incident)
    assert missed == []


def test_benign_days_after_the_warm_up_have_no_medium_or_high_finding(estate_lakes):
    _, found, _ = estate_lakes["benign"]
    late = [f for f in found if f["dt"] >= "2026-11-09" and f["severity"] in ("medium", "high")]
    assert late == [], late[:3]
    # the public website's visitors are not findings, AWS's own traffic neither
    assert not [f for f in found if f["bucket"] == "shop-website"
                and f["detection"] in ("anonymous_access", "new_network", "policy_anonymous")]


def test_findings_are_new_then_ongoing_with_one_id_whatever_the_run(tmp_path):
    days = [DAY + timedelta(days=i) for i in range(3)]
    lines = {d: req(1, bucket="partner-exchange", requester="-", signature_version="-",
                    authentication_type="-", time=f"[{d:%d/%b/%Y}:10:00:00 +0000]")
             for d in days}
    lake = make_lake(tmp_path, lines)
    found = sorted((r for r in findings(lake, days[0], days[-1])
                    if r["detection"] == "policy_anonymous"), key=lambda r: r["dt"])
    assert [r["status"] for r in found] == ["new", "ongoing", "ongoing"]
    assert {r["first_detected"] for r in found} == {days[0].isoformat()}
    assert len({r["finding_id"] for r in found}) == 1
    # the last day alone, recomputed, keeps the finding's id and first day
    again = [r for r in findings(lake, days[2], days[2]) if r["detection"] == "policy_anonymous"]
    assert again[0]["finding_id"] == found[0]["finding_id"] and again[0]["status"] == "ongoing"


def test_suppressed_findings_stay_visible_marked_and_are_never_alerted(tmp_path):
    file = tmp_path / "p.yaml"
    file.write_text((ROOT / "examples" / "policies.yaml").read_text() + """\
  - detection: "policy_*"
    bucket: payments-prod
    principal: "arn:aws:iam::999988887777:*"
    reason: "the auditors' read-only account, agreed with security"
    expires: 2026-12-31
""")
    lake = make_lake(tmp_path, {DAY: req(2, requester="arn:aws:iam::999988887777:user/audit")})
    (row,) = [r for r in findings(lake, DAY, DAY, replace(DEMO_POLICY, policies=str(file)))
              if r["detection"] == "policy_principal"]
    assert row["suppressed"] and "auditors" in row["suppression_reason"]
    assert "until 2026-12-31" in row["suppression_reason"]
    run = alerts.alert(lake, DAY, DAY, DAY, webhook="http://127.0.0.1:9/never")
    assert run.candidates == 0 and run.sent == 0


# -- alerts --------------------------------------------------------------------------------

def test_alerts_reach_the_webhook_once_per_group_and_never_twice(tmp_path, receiver):
    lake = make_lake(tmp_path, {DAY: [
        *req(2, requester="-", signature_version="-", authentication_type="-"),
        *req(1, requester="arn:aws:iam::999988887777:user/stranger"),
        *req(1, requester="<!channel>"),  # log content that would page everyone
    ]})
    findings(lake, DAY, DAY)
    run = alerts.alert(lake, DAY, DAY, DAY, webhook=receiver.url, pause=0)
    assert run.messages == 2 and run.sent == 3 and len(receiver.bodies) == 2, run
    texts = [b["text"] for b in receiver.bodies]
    assert any("policy_principal on payments-prod" in t and "2 new findings" in t
               for t in texts)
    assert all("<!" not in t for t in texts)  # log content cannot mention a channel
    assert any("&lt;!channel&gt;" in t for t in texts)  # but it is shown, escaped
    assert all(b["findings"] and "finding_id" in b["findings"][0] for b in receiver.bodies)
    again = alerts.alert(lake, DAY, DAY, DAY, webhook=receiver.url, pause=0)
    assert again.sent == 0 and again.already_sent == 3 and len(receiver.bodies) == 2
    # a backfill of an old day pages nobody
    old = alerts.alert(lake, DAY, DAY, DAY + timedelta(days=30), webhook=receiver.url, pause=0)
    assert old.candidates == 0


def test_an_unreachable_webhook_is_one_sentence_and_the_next_run_sends(tmp_path, receiver):
    lake = make_lake(tmp_path, {DAY: req(1, requester="arn:aws:iam::999988887777:user/x")})
    findings(lake, DAY, DAY)
    receiver.status = 500
    run = alerts.alert(lake, DAY, DAY, DAY, webhook=receiver.url, pause=0)
    with pytest.raises(alerts.AlertError) as e:
        alerts.check(run, receiver.url)
    assert len(receiver.bodies) == alerts.ATTEMPTS and "next run sends them" in str(e.value)
    receiver.status = 200
    assert alerts.alert(lake, DAY, DAY, DAY, webhook=receiver.url, pause=0).sent == 1


# -- audit ---------------------------------------------------------------------------------

def test_audit_answers_who_accessed_what_with_evidence(tmp_path):
    make_lake(tmp_path, {DAY: [
        *req(2, key="ledger/2026/a.csv", request_uri='"GET /payments-prod/ledger/2026/a.csv '
             'HTTP/1.1"'),
        *req(1, key="ledger/2026/b.csv", requester="arn:aws:iam::999988887777:user/stranger",
             user_agent='"=cmd|\' /C calc\'!A0"'),
        *req(1, key="other/c.csv"),
    ]})
    out = subprocess.run([S3LOGS, "audit", "--lake", str(tmp_path / "lake"), "--bucket",
                          "payments-prod", "--prefix", "ledger/", "--from", str(DAY), "--to",
                          str(DAY), "--format", "csv"], capture_output=True, text=True,
                         timeout=120, env={"PATH": "/usr/bin:/bin",
                                           "S3LOGS_POLICIES": str(ROOT / "examples" /
                                                                  "policies.yaml")})
    assert out.returncode == 0, out.stderr
    rows = out.stdout.strip().splitlines()
    assert len(rows) == 1 + 3 and rows[0].startswith('"request_time","principal"')
    stranger = [r for r in rows if "stranger" in r]
    assert len(stranger) == 1 and "policy_principal" in stranger[0]
    assert "\"'=cmd" in stranger[0]  # a formula from a user agent stays text
    one = subprocess.run([S3LOGS, "audit", "--lake", str(tmp_path / "lake"), "--bucket",
                          "payments-prod", "--key", "ledger/2026/a.csv", "--from", str(DAY),
                          "--to", str(DAY), "--principal", "*PaymentsApp*"],
                         capture_output=True, text=True, timeout=120)
    assert one.returncode == 0 and "2 requests from" in one.stdout


def test_the_dagster_alerts_asset_posts_new_findings(tmp_path, receiver):
    import dagster as dg

    from assets.alerts import security_alerts
    from assets.resources import AlertsResource, LakeResource, S3Settings

    lake = make_lake(tmp_path, {DAY: req(1, requester="arn:aws:iam::999988887777:user/x")})
    findings(lake, DAY, DAY)
    resources = {"lake": LakeResource(url=str(tmp_path / "lake"), s3=S3Settings()),
                 "alerting": AlertsResource(webhook=receiver.url,
                                            max_age_days=100000)}  # the fixture's day is old
    sent = []
    for _ in range(2):  # the second run sends nothing again
        result = dg.materialize([security_alerts], partition_key=DAY.isoformat(),
                                resources=resources)
        assert result.success
        (m,) = result.asset_materializations_for_node("security_alerts")
        sent.append(m.metadata["sent"].value)
    assert sent == [1, 0]
    assert len(receiver.bodies) == 1 and "policy_principal" in receiver.bodies[0]["text"]


def test_the_estate_has_habits_not_noise():
    """Principals keep to their few networks and their rhythm; website visitors do not."""
    import duckdb
    import pyarrow as pa

    from pipelines.parsing.parse import parse_objects
    from pipelines.synthetic.estate import generate_objects

    cfg = EstateConfig(start=date(2026, 11, 2), days=7, scale=0.05, seed=3)
    objects = list(generate_objects(cfg))
    assert objects == list(generate_objects(cfg))  # seeded: the same bytes again
    records = pa.concat_tables([r.records for r in parse_objects(objects)])  # noqa: F841
    per = duckdb.sql("""
        SELECT bucket, coalesce(regexp_replace(requester, '/[^/]+$', ''), 'anonymous') AS who,
               count(DISTINCT remote_ip) AS addresses, count(*) AS n,
               list(DISTINCT dayofweek(request_time)) AS weekdays
        FROM records GROUP BY ALL""").to_arrow_table().to_pylist()
    visitors = next(r for r in per if r["bucket"] == "shop-website" and r["who"] == "anonymous")
    assert visitors["addresses"] > 0.3 * visitors["n"]
    people = [r for r in per if r["who"] != "anonymous" and "cloudfront" not in r["who"]]
    assert people and all(r["addresses"] <= 8 for r in people), people
    backup = next(r for r in per if r["who"].endswith("BackupRole"))
    assert backup["weekdays"] == [0]  # Sundays only


def test_a_day_gives_the_same_findings_alone_in_a_range_or_in_another_time_zone(tmp_path):
    """A delivery gap on D, with D+1 in the lake: the run for D alone once took D's last
    logged hour for the end of the lake, and hours followed the host's time zone."""
    days = [DAY - timedelta(days=8) + timedelta(days=i) for i in range(10)]  # D is days[8]
    lines = {}
    for d in days:
        lines[d] = [line(bucket=b, requester=APP, remote_ip="10.20.1.11",
                         time=f"[{d:%d/%b/%Y}:{h:02d}:15:00 +0000]",
                         request_id=f"R{b[0]}{d:%m%d}{h}")
                    for b in ("partner-exchange", "payments-prod") for h in range(24)
                    if not (b == "partner-exchange" and d == DAY and h > 10)]
    lake = make_lake(tmp_path, lines)

    def gaps(first: date, last: date) -> list[tuple]:
        return sorted((r["dt"], r["bucket"], r["rule"]) for r in findings(lake, first, last)
                      if r["detection"] == "log_delivery_gap" and r["dt"] == DAY.isoformat())

    alone, in_range = gaps(DAY, DAY), gaps(DAY, days[-1])
    assert alone == in_range and len(alone) == 1 and "13 hours" in alone[0][2], alone
    out = subprocess.run([S3LOGS, "models", "run", "--lake", str(tmp_path / "lake"), "--days",
                          str(DAY)], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "TZ": "America/New_York",
                              "S3LOGS_POLICIES": str(ROOT / "examples" / "policies.yaml")})
    assert out.returncode == 0, out.stderr
    con = session(lake)
    stored = con.sql("SELECT dt, bucket, rule FROM security_detections WHERE dt = $d AND "
                     "detection = 'log_delivery_gap'", params={"d": DAY.isoformat()}).fetchall()
    assert sorted(stored) == alone


def test_two_alert_runs_at_once_send_each_finding_once(tmp_path, receiver):
    lake = make_lake(tmp_path, {DAY: [*req(1, requester="arn:aws:iam::999988887777:user/a"),
                                    *req(2, requester="-", signature_version="-",
                                         authentication_type="-")]})
    findings(lake, DAY, DAY)
    runs = []
    threads = [threading.Thread(target=lambda: runs.append(alerts.alert(
        Lake(str(tmp_path / "lake")), DAY, DAY, DAY, webhook=receiver.url, pause=0)))
        for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = sorted(f["finding_id"] for b in receiver.bodies for f in b["findings"])
    assert len(sent) == len(set(sent)) == sum(r.sent for r in runs) == 2
