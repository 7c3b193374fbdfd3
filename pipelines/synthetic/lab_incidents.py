"""The research institute's incidents: overlays planted on a day, each naming its
bucket, its story, the detections that should find it and the principal or address a
finding must name (pipelines.synthetic.estate_lab plants them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from pipelines.synthetic.lab_genomes import RELEASES
from pipelines.synthetic.lab_imaging import (
    CLEANUP_HOSTS,
    multi_delete,
    presigned_query,
    processed_keys,
    study_uid,
)
from pipelines.synthetic.lab_population import (
    CAMPUS,
    CLEANUP,
    CLINIC_UAS,
    COHORTS,
    EMR,
    RCLONE,
    REPLICATION,
    REPLICATION_HOST,
    TLS12,
    VIEWER,
    Day,
    LabConfig,
    assumed,
    consumer_addresses,
    iam_user,
    window,
)
from pipelines.synthetic.lab_records import Rec
from pipelines.synthetic.lab_warehouse import TABLES


@dataclass(frozen=True)
class Planted:
    incident: str
    day: date


@dataclass(frozen=True)
class Incident:
    name: str
    bucket: str
    story: str
    detections: tuple[str, ...]       # any of them finding it counts
    make: Callable[[Day, np.random.Generator], list[Rec]]
    principal: str | None = None      # a finding must name this principal (as access_logs
    address: str | None = None        # has it) or this address; neither: the bucket
    silent_hours: tuple[int, int] | None = None   # UTC hours whose records vanish


DEFACER = "103.251.167.20"
CREDENTIAL_STUFFER = "141.98.11.23"     # its /24 is on examples/lab/threat_list.csv
EXFIL_HOST = "5.252.176.14"
LEAKED_KEY_HOST = "179.43.150.9"
DEVELOPER = iam_user("dev-rpatel")


def _anonymous_write(d: Day, rng: np.random.Generator) -> list[Rec]:
    """A bucket policy meant to let anyone read also let anyone write: one address
    uploads 25 files into the public dataset and deletes its manifest."""
    secs = window(rng, d, 26, 3, 0.5)
    ua = "curl/7.81.0"
    recs = [Rec(t, DEFACER, "-", "REST.PUT.OBJECT", f"{RELEASES[-1]}/joint/.cache/{i:02d}.bin",
                size=int(rng.integers(200_000, 3_000_000)), ua=ua, auth="-")
            for i, t in enumerate(secs[:-1].tolist())]
    recs.append(Rec(int(secs[-1]), DEFACER, "-", "REST.DELETE.OBJECT", "manifest.tsv",
                    status=204, ua=ua, auth="-"))
    return recs


def _presigned_shared(d: Day, rng: np.random.Generator) -> list[Rec]:
    """A clinician pasted a study's presigned link (signed by ViewerRole, valid 12 hours)
    into a public forum: the same URL opened from 300 addresses in an afternoon."""
    t0 = d.start + 14 * 3600
    access_key = "ASIA2VQXKJ7RB3WTFN5P"
    signature = "".join(f"{b:02x}" for b in rng.integers(0, 256, 32).tolist())
    query = presigned_query(rng, t0, access_key, 43200, signature)
    key = f"site-b/{d.day - timedelta(days=2):%Y/%m/%d}/{study_uid(rng)}/study.zip"
    size = 367_001_600
    who = assumed(VIEWER, "viewer-3f9c21aa")
    addresses = consumer_addresses(rng.integers(0, 1 << 30, size=300) + (1 << 31), 41)
    recs = []
    for ip in addresses:
        for _ in range(int(rng.integers(1, 3))):
            t = t0 + int(rng.integers(0, 10 * 3600))
            recs.append(Rec(t, ip, who, "REST.GET.OBJECT", key, query, sent=size, size=size,
                            ua=CLINIC_UAS[int(rng.integers(0, 2))], auth="QueryString",
                            referer="https://forum.example.net/t/anonymised-mri-dataset/8812"))
    return recs


def _mass_delete(d: Day, rng: np.random.Generator) -> list[Rec]:
    """A bad deploy of the cleanup function (on a Sunday) deletes 5,000 objects in an
    hour: everything under last month's site A, not only what was processed."""
    who = assumed(CLEANUP, f"cleanup-{d.day:%Y%m%d}-hotfix")
    ip = CLEANUP_HOSTS[0]
    keys = processed_keys(rng, d.day, 5000, site="a")
    t0 = d.start + 16 * 3600
    recs = []
    for lo in range(0, 5000, 1000):
        recs += multi_delete(rng, t0 + lo // 1000 * 700 + int(rng.integers(0, 60)), ip, who,
                             keys[lo:lo + 1000])
    return recs


def _config_change(d: Day, rng: np.random.Generator) -> list[Rec]:
    """A developer removes the warehouse's public access block and puts a bucket policy
    (to share a table with a collaborator the quick way)."""
    t = d.start + 20 * 3600 + int(rng.integers(0, 1800))
    ip = CAMPUS + "57"
    ua = ("aws-cli/2.15.30 Python/3.11.8 Windows/10 exe/AMD64 prompt/off "
          "command/s3api.put-bucket-policy")
    steps = (("REST.GET.PUBLIC_ACCESS_BLOCK", "?publicAccessBlock", 200),
             ("REST.DELETE.PUBLIC_ACCESS_BLOCK", "?publicAccessBlock", 204),
             ("REST.PUT.BUCKETPOLICY", "?policy", 204),
             ("REST.GET.BUCKETPOLICY", "?policy", 200))
    return [Rec(t + 40 * i, ip, DEVELOPER, op, query=q, status=s,
                sent=600 if s == 200 else 0, ua=ua) for i, (op, q, s) in enumerate(steps)]


def _emr_credentials(d: Day, rng: np.random.Generator) -> list[Rec]:
    """An EMR node's instance credentials, stolen, used from a rented server outside AWS
    at night (23:00-03:00 local): 1,000 whole-object downloads, 200 GB."""
    secs = window(rng, d, 1000, 4, 4)
    who = assumed(EMR, "i-0a4f9b2c7d18e3605")
    ua = ("aws-cli/2.15.30 Python/3.11.8 Linux/6.5.0-15-generic exe/x86_64.ubuntu.22 "
          "prompt/off command/s3.cp")
    recs = []
    for i, t in enumerate(secs.tolist()):
        table = TABLES[i % len(TABLES)]
        key = f"warehouse/{table}/cohort={COHORTS[i % 3]}/part-{i:05d}-export.snappy.parquet"
        recs.append(Rec(t, EXFIL_HOST, who, "REST.GET.OBJECT", key, sent=200_000_000,
                        size=200_000_000, ua=ua))
    return recs


def _auth_failure_burst(d: Day, rng: np.random.Generator) -> list[Rec]:
    """Keys from a leaked list tried against the imaging bucket from one address:
    InvalidAccessKeyId and SignatureDoesNotMatch, 180 times in an hour."""
    secs = window(rng, d, 180, 9, 1)
    errors = ("InvalidAccessKeyId", "SignatureDoesNotMatch")
    return [Rec(t, CREDENTIAL_STUFFER, "-", ("REST.GET.BUCKET", "REST.PUT.OBJECT")[i % 2],
                "-" if i % 2 == 0 else f"site-a/probe-{i}.dcm", status=403,
                error=errors[int(rng.integers(0, 2))], sent=370, ua="Go-http-client/1.1",
                tls=TLS12[0]) for i, t in enumerate(secs.tolist())]


def _logging_off(d: Day, rng: np.random.Generator) -> list[Rec]:
    """The replication role's credentials turn the vault's server access logging off
    just before the nightly copy: the copy and six hours after it go unlogged."""
    t = d.start + 3 * 3600 + 50 * 60
    return [Rec(t, REPLICATION_HOST, assumed(REPLICATION, f"replicate-{d.day:%Y%m%d}"),
                "REST.PUT.LOGGING_STATUS", query="?logging", ua=RCLONE)]


def _leaked_key_listing(d: Day, rng: np.random.Generator) -> list[Rec]:
    """Site A's scanner key, leaked in a support bundle, used from abroad on the holiday to
    list the bucket page by page and read a few small files."""
    secs = window(rng, d, 640, 13, 2)
    who = iam_user("scanner-site-a")
    ua = "aws-cli/1.18.69 Python/3.8.10 Linux/5.4.0-150-generic botocore/1.17.92"
    recs = []
    for i, t in enumerate(secs.tolist()):
        if i % 16 == 15:
            key = f"site-a/2027/01/{1 + i % 28:02d}/{study_uid(rng)}/1/00001.dcm"
            size = int(rng.lognormal(13.1, 0.3))
            recs.append(Rec(t, LEAKED_KEY_HOST, who, "REST.GET.OBJECT", key, sent=size,
                            size=size, ua=ua, style="path"))
        else:
            recs.append(Rec(t, LEAKED_KEY_HOST, who, "REST.GET.BUCKET",
                            query=f"?prefix=site-a%2F&marker=site-a%2F{i:06d}",
                            sent=int(rng.integers(200_000, 300_000)), ua=ua, style="path"))
    return recs


INCIDENTS: dict[str, Incident] = {i.name: i for i in (
    Incident("logging_off", "cold-vault", _logging_off.__doc__,
             ("config_change", "log_delivery_gap"), _logging_off,
             principal=assumed(REPLICATION), silent_hours=(4, 10)),
    Incident("auth_failure_burst", "imaging-uploads", _auth_failure_burst.__doc__,
             ("auth_failure_burst", "threat_list"), _auth_failure_burst,
             address=CREDENTIAL_STUFFER),
    Incident("config_change", "lab-warehouse", _config_change.__doc__, ("config_change",),
             _config_change, principal=DEVELOPER),
    Incident("anonymous_write", "open-genomes", _anonymous_write.__doc__,
             ("anonymous_write", "policy_anonymous"), _anonymous_write,
             principal="anonymous", address=DEFACER),
    Incident("presigned_shared", "imaging-uploads", _presigned_shared.__doc__,
             ("presigned_shared", "exfiltration", "policy_network"), _presigned_shared,
             principal=assumed(VIEWER)),
    Incident("emr_credentials", "lab-warehouse", _emr_credentials.__doc__,
             ("new_network", "exfiltration", "policy_network"), _emr_credentials,
             principal=assumed(EMR), address=EXFIL_HOST),
    Incident("mass_delete", "imaging-uploads", _mass_delete.__doc__, ("mass_delete",),
             _mass_delete, principal=assumed(CLEANUP)),
    Incident("leaked_key_listing", "imaging-uploads", _leaked_key_listing.__doc__,
             ("enumeration", "policy_network", "new_network"), _leaked_key_listing,
             principal=iam_user("scanner-site-a"), address=LEAKED_KEY_HOST),
)}


def third_week(cfg: LabConfig) -> tuple[Planted, ...]:
    """Each incident on a day of the third week, in INCIDENTS' order, one a day (the
    eighth on the first day again, on another bucket)."""
    days = [cfg.start + timedelta(days=14 + i) for i in range(7)]
    return tuple(Planted(name, days[i % 7]) for i, name in enumerate(INCIDENTS))
