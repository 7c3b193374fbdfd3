"""What several test modules use, in one place (project issue 19): builders of small lakes,
log lines and model catalogs, the `s3logs` command's path, and the constants their tests
compare against (days, principals, buckets). A test module imports these from here, never
from another test module or from conftest, which is pytest's, for fixtures
(tests/test_architecture.py holds it). Two shared modules stay as they are: log lines
field by field are tests/loglines.py, the servers tests start are tests/servers.py."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

from pipelines.ingestion.ingest import ingest
from pipelines.ingestion.sources import LogSource
from pipelines.lake.store import Lake
from pipelines.security.policy import PolicyFiles
from pipelines.sql import models
from pipelines.sql.catalog import load
from pipelines.sql.session import columns, session
from tests.loglines import line

ROOT = Path(__file__).resolve().parents[1]
GIB = 1 << 30

# -- the command line ----------------------------------------------------------------------

S3LOGS = str(Path(sys.executable).parent / "s3logs")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`s3logs` with the arguments, as a user runs it (the test's environment)."""
    return subprocess.run([S3LOGS, *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


# -- log lines -----------------------------------------------------------------------------

def log_time(day: date, hhmmss: str = "12:00:00") -> str:
    """The time field of a log line: `[10/Nov/2026:12:00:00 +0000]`."""
    return f"[{day:%d/%b/%Y}:{hhmmss} +0000]"


# The hand-made lakes of the model tests: alice's requests to one bucket, on D and around.
BUCKET = "fixture-bucket"
ALICE = "arn:aws:iam::111122223333:user/alice"
BOB = "arn:aws:sts::111122223333:assumed-role/Reader/bob"
BOB_ROLE = "arn:aws:sts::111122223333:assumed-role/Reader"  # findings name the role
D = date(2026, 11, 10)


def fixture_bucket_requests(day: date, n: int = 1, **fields) -> list[bytes]:
    """`n` distinct requests (own request ids) on `day` with the given fields: by default
    alice's, to fixture-bucket, at noon."""
    base = {"bucket": BUCKET, "requester": ALICE, "time": log_time(day)}
    return [line(**{**base, **fields, "request_id": f"R{day:%m%d}{fields.get('operation', 'OP')}"
                                                    f"{hash(tuple(sorted(fields.items()))) % 10**6}"
                                                    f"N{i}"}) for i in range(n)]


# The security tests' bucket: payments-prod, which examples/policies.yaml covers, read by a
# role of the payments application from its network.
PAYMENTS_DAY = date(2026, 11, 20)
PAYMENTS_APP = "arn:aws:sts::111122223333:assumed-role/PaymentsApp/i-0abc"


def payments_requests(n: int = 1, **fields) -> list[bytes]:
    """`n` requests with the given fields: by default the PaymentsApp role's, to
    payments-prod from 10.20.1.11, at noon on PAYMENTS_DAY."""
    base = {"bucket": "payments-prod", "requester": PAYMENTS_APP, "remote_ip": "10.20.1.11",
            "time": log_time(PAYMENTS_DAY)}
    return [line(**{**base, **fields, "request_id": f"R{abs(hash(str(fields))) % 10**8}N{i}"})
            for i in range(n)]


# -- small lakes ---------------------------------------------------------------------------

def make_lake(tmp_path: Path, days: dict[date, list[bytes]]) -> Lake:
    """Each day's lines as one log object in tmp_path/logs, ingested into tmp_path/lake;
    every line must land in the lake (none quarantined)."""
    folder = tmp_path / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    for i, (day, lines) in enumerate(sorted(days.items())):
        (folder / f"{day}-23-00-00-{i:016X}").write_bytes(b"\n".join(lines) + b"\n")
    lake = Lake(str(tmp_path / "lake"))
    report = ingest([LogSource(str(folder), layout="simple")], lake, sorted(days),
                    progress=False)
    assert report.total("rows_quarantined") == 0
    return lake


def billing_lake(tmp_path) -> Lake:
    """Alice's requests of every billing kind on D, internet transfer on the next day, and
    an anonymous AccessDenied of 2024-05-12 (billed then, not since)."""
    d2 = D + timedelta(days=1)
    old = date(2024, 5, 12)  # the day before 403s from outside stopped being billed
    anon_denied = dict(requester="-", http_status="403", error_code="AccessDenied",
                       bytes_sent="243", signature_version="-", authentication_type="-")
    req = fixture_bucket_requests
    return make_lake(tmp_path, {
        D: [
            *req(D, 150, bytes_sent=str(GIB), remote_ip="203.0.113.7"),            # tier2
            *req(D, 850, operation="REST.HEAD.OBJECT", bytes_sent="-"),            # tier2
            *req(D, 2000, operation="REST.PUT.OBJECT", bytes_sent="-",
                 request_uri='"PUT /fixture-bucket/new HTTP/1.1"'),                 # tier1
            *req(D, 10, operation="REST.DELETE.OBJECT", http_status="204",
                 bytes_sent="-"),                                                  # free
            *req(D, 5, http_status="503", error_code="SlowDown", bytes_sent="300"),  # unbilled
            *req(D, 4, **anon_denied),                                            # unbilled
            *req(D, 3, operation="S3.EXPIRE.OBJECT", requester="AmazonS3", remote_ip="-",
                 http_status="-", request_uri='"-"', bytes_sent="-"),              # system
            *req(D, 2, operation="REST.COPY.OBJECT_GET", request_uri="-", referer="-",
                 user_agent="-", bytes_sent="-"),                                  # system
            *req(D, 3, operation="BATCH.DELETE.OBJECT", request_uri="-", referer="-",
                 user_agent="-", bytes_sent="-", http_status="204"),              # system
            *req(D, 1, operation="REST.POST.MULTI_OBJECT_DELETE", bytes_sent="-"),  # tier1
        ],
        d2: req(d2, 20, bytes_sent=str(GIB), remote_ip="203.0.113.7"),
        old: req(old, 1, **anon_denied),
    })


# A baseline's worth of ordinary days, one more ordinary day, and a day of every detection.
HISTORY = [date(2026, 10, 29) + timedelta(days=i) for i in range(8)]
NORMAL, ATTACK = date(2026, 11, 6), date(2026, 11, 7)


def normal(day: date) -> list[bytes]:
    """An ordinary day: alice and bob, each from their own address."""
    req = fixture_bucket_requests
    return [*req(day, 3, remote_ip="10.1.1.1", bytes_sent="1000000"),
            *req(day, 3, requester=BOB, remote_ip="10.2.2.2", bytes_sent="1000000")]


PLANTED = {  # detection -> (fields of the planted requests, how many, expected principal)
    "access_denied_burst": (dict(requester="arn:aws:iam::999999999999:user/mallory",
                                 remote_ip="10.1.1.1", http_status="403",
                                 error_code="AccessDenied", bytes_sent="243"), 25,
                            "arn:aws:iam::999999999999:user/mallory"),
    "anonymous_access": (dict(requester="-", remote_ip="10.1.1.1", signature_version="-",
                              authentication_type="-"), 1, "anonymous"),
    "no_tls": (dict(remote_ip="10.1.1.1", cipher_suite="-", tls_version="-"), 1, ALICE),
    "weak_tls": (dict(remote_ip="10.1.1.1", tls_version="TLSv1.1"), 1, ALICE),
    "sigv2": (dict(remote_ip="10.1.1.1", signature_version="SigV2"), 1, ALICE),
    "acl_required": (dict(remote_ip="10.1.1.1", acl_required="Yes"), 1, ALICE),
    "presigned_url": (dict(remote_ip="10.1.1.1", authentication_type="QueryString"), 1, ALICE),
    "mass_delete": (dict(remote_ip="10.1.1.1", operation="REST.DELETE.OBJECT",
                         http_status="204", bytes_sent="-",
                         request_uri='"DELETE /fixture-bucket/x HTTP/1.1"'), 120, ALICE),
    "lifecycle_expirations": (dict(requester="AmazonS3", remote_ip="-",
                                   operation="S3.EXPIRE.OBJECT", http_status="-",
                                   request_uri='"-"', bytes_sent="-", tls_version="-",
                                   cipher_suite="-", signature_version="-",
                                   authentication_type="-"), 150, "AmazonS3"),
    "new_principal": (dict(requester="arn:aws:iam::111122223333:user/newcomer",
                           remote_ip="10.1.1.1"), 1, "arn:aws:iam::111122223333:user/newcomer"),
    "new_network": (dict(remote_ip="198.51.100.99"), 1, ALICE),
    "exfiltration": (dict(requester=BOB, remote_ip="10.2.2.2", bytes_sent=str(2 * GIB)), 1,
                     BOB_ROLE),
    "enumeration": (dict(remote_ip="10.1.1.1", http_status="404", error_code="NoSuchKey",
                         bytes_sent="-"), 60, ALICE),
    "scanner_user_agent": (dict(remote_ip="10.1.1.1", user_agent='"sqlmap/1.7.2#stable"'), 1,
                           ALICE),
}


def planted_days() -> dict[date, list[bytes]]:
    """The lines of HISTORY and NORMAL (ordinary days) and of ATTACK (an ordinary day with
    every PLANTED case added), for make_lake."""
    days = {d: normal(d) for d in [*HISTORY, NORMAL]}
    days[ATTACK] = normal(ATTACK) + [r for fields, n, _ in PLANTED.values()
                                     for r in fixture_bucket_requests(ATTACK, n, **fields)]
    return days


# Two days whose objects both feed one lake folder (dt=D1/bucket=shared-bucket).
D1, D2 = date(2026, 11, 21), date(2026, 11, 22)


def late_logs(folder: Path) -> None:
    """Two days of objects; day 2's objects carry late records of day 1, so both days'
    runs feed the partition dt=D1/bucket=shared-bucket."""
    folder.mkdir(parents=True, exist_ok=True)
    for day in (D1, D2):
        for i in range(3):
            when = f"[{D1:%d/%b/%Y}:{10 + i:02d}:{day.day - 20:02d}:00 +0000]"
            body = b"\n".join(line(bucket="shared-bucket", time=when, key=f"{day}/{i}/{k}",
                                   request_id=f"R{day.day}{i}{k}") for k in range(50))
            (folder / f"{day}-0{i}-00-00-{day.day:08X}{i:08X}").write_bytes(body + b"\n")


def upload(client, bucket: str, objects: Iterable[tuple[str, bytes]]) -> list[str]:
    """Put the objects (8 at a time: the server answers requests in parallel)."""
    objects = list(objects)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kb: client.put_object(Bucket=bucket, Key=kb[0], Body=kb[1]),
                      objects))
    return [key for key, _ in objects]


# -- what the security models find ---------------------------------------------------------

# The demo's policy file and threat list, passed as every caller passes them.
DEMO_POLICY = PolicyFiles(str(ROOT / "examples" / "policies.yaml"),
                          str(ROOT / "examples" / "threat_list.csv"))


def findings(lake: Lake, first: date, last: date,
             files: PolicyFiles = DEMO_POLICY) -> list[dict]:
    """The security findings of the days, computed now with the policy files."""
    models.run_models(lake, first, last, ["security_detections", "security_findings"],
                      policy_files=files)
    con = session(lake)
    try:
        return con.sql("SELECT * FROM security_findings WHERE dt BETWEEN $a AND $b",
                       params={"a": first.isoformat(), "b": last.isoformat()}
                       ).to_arrow_table().to_pylist()
    finally:
        con.close()


# -- model catalogs ------------------------------------------------------------------------

GOOD = """MODEL (
  name requests_per_bucket,
  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  grain (dt, bucket),
  parameters (min_requests = 1),
  description 'Requests per day and bucket.',
  column_descriptions (
    dt = 'UTC day.',
    bucket = 'Source bucket.',
    requests = 'Number of requests.'
  )
);
SELECT dt, bucket, count(*) AS requests
FROM lake_access_logs
WHERE dt BETWEEN $start_date AND $end_date
GROUP BY ALL
HAVING count(*) >= $min_requests
"""


def catalog_of(tmp_path: Path, text: str, name: str = "requests_per_bucket"):
    """A catalog of tmp_path/sql, with the model `name` (the SQL `text`) under custom/."""
    folder = tmp_path / "sql" / "custom"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.sql").write_text(text)
    catalog = load(tmp_path / "sql")
    columns(catalog)  # compiling is part of loading: it checks the headers against the SQL
    return catalog
