"""A second estate, built apart from the first (pipelines.synthetic.estate), so that the detections
are measured on traffic they were not tuned on: a biomedical research institute.

Nothing here comes from pipelines.synthetic.estate, pipelines.synthetic.incidents or
pipelines.synthetic.synth: the addresses, accounts, roles, user agents, rhythms, operation
mix, delivery and the log-line formatter are this module's own (it imports the standard
library and numpy only). The lines are the 26 fields AWS documents up to aclRequired and
must parse with no reject.

Four buckets, in us-east-2, with the institute's local time five hours behind UTC:

- `open-genomes`: a public dataset. Anonymous sessions from consumer and university
  addresses worldwide (IPv4 and IPv6): a listing, a HEAD, then ranged GETs (206) of CRAM
  and VCF files; a university mirror syncs every night; a curator role uploads a new
  release every Tuesday (multipart), and consumers read more that day and the next.
- `imaging-uploads`: scanners at three hospital sites upload DICOM through a VPC endpoint
  (10.64.x), one IAM user per site; a web viewer hands out presigned GET URLs signed by
  its `ViewerRole` session, which clinicians open from hospital networks; a cleanup role
  removes 100-140 processed objects every night with multi-object deletes.
- `lab-warehouse`: EMR nodes (10.72.16.0/22) in lab hours, a nightly Glue ETL, a Glue
  crawler, and Athena reading through Lake Formation's service-linked role.
- `cold-vault`: a backup target written once a day in one hour by a replication role,
  read now and then by an auditor; lifecycle expires noncurrent versions.

Rhythms: lab hours 07-20 local (12-01 UTC), a weekend dip, a weekly release peak and one
holiday (the Monday of the third week: Presidents' Day for the default start) when people
and scanners make a fifth of their usual requests (nightly jobs run as always). Benign
events of the third week, which detections should not report: the holiday, the cleanup's
routine deletes, a key rotation (`scanner-site-b`'s old key refused a few times from its
usual address), a new service (`VariantCallerRole`, listed in examples/lab/policies.yaml)
and a viral day on `open-genomes` (ten times the anonymous reads, mostly from addresses
never seen).

Incidents (INCIDENTS) are overlays planted on a day; each names its bucket, its story,
the detections that should find it and the principal or address a finding must name.
Every actor, incident and delivery draws from its own generator seeded by (seed, day,
which), so a planted run's benign traffic is the benign run's, record for record.
"""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

ACCOUNT = "720458193346"
OWNER = "5d0c3e9a71b24f86a1e3c7d92f4b08e6c1a95f37d2e8b604a7c3f19e5b2d8a61"
REGION = "us-east-2"
LOCAL_OFFSET = -5                     # hours: the institute is on US Eastern (standard) time
BUCKETS = ("open-genomes", "imaging-uploads", "lab-warehouse", "cold-vault")


def assumed(role_name: str, session: str = "") -> str:
    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}"
    return f"{arn}/{session}" if session else arn


def iam_user(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


CURATOR = "DatasetCuratorRole"
VIEWER = "ViewerRole"
CLEANUP = "ImagingCleanupRole"
EMR = "EMR_EC2_LabRole"
ETL = "LabETLRole"
CRAWLER = "AWSGlueServiceRole-LabCrawler"
VARIANT_CALLER = "VariantCallerRole"
REPLICATION = "ColdVaultReplicationRole"
AUDITOR = "BackupAuditRole"
LAKE_FORMATION = "AWSServiceRoleForLakeFormationDataAccess"
ACCESS_ANALYZER = "AWSServiceRoleForAccessAnalyzer"
SITES = {"a": ("10.64.1.21", "10.64.1.22"), "b": ("10.64.2.31", "10.64.2.32"),
         "c": ("10.64.3.41",)}
HOSPITALS = {"198.18.12.0/24": (14, 15, 16), "198.18.40.0/24": (201, 202),
             "198.19.7.0/24": (9,), "198.19.130.0/24": (33, 34, 35, 36)}
CAMPUS = "192.0.2."                   # the institute's NAT (TEST-NET-1)
CAMPUS_V6 = "2001:db8:7c00:12::"
REPLICATION_HOST = "10.80.5.10"

# User agents as these clients send them.
ORTHANC = "aws-sdk-cpp/1.11.285 Linux/5.15.0-1051-aws x86_64 GCC/11.4.0 OrthancS3/1.4"
EMRFS = ("aws-sdk-java/1.12.600 Linux/5.10.205-195.807.amzn2.x86_64 "
         "OpenJDK_64-Bit_Server_VM/17.0.9+8-LTS java/17.0.9 scala/2.12.17 "
         "vendor/Amazon.com_Inc. cfg/retry-mode/legacy EMRFS/2.62.0")
GLUE_ETL = ("aws-sdk-java/1.12.576 Linux/5.10.201-191.748.amzn2.x86_64 "
            "OpenJDK_64-Bit_Server_VM/11.0.21+9-LTS java/11.0.21 scala/2.12.15 "
            "vendor/Amazon.com_Inc. cfg/retry-mode/standard Glue/4.0")
CRAWLER_UA = ("aws-sdk-java/1.12.576 Linux/5.10.201-191.748.amzn2.x86_64 "
              "OpenJDK_64-Bit_Server_VM/11.0.21+9-LTS java/11.0.21 vendor/Amazon.com_Inc. "
              "exec-env/AWS_Glue_Crawler")
AWS_INTERNAL = ("aws-internal/3 aws-sdk-java/1.12.698 Linux/5.10.219-186.866.amzn2int.x86_64 "
                "OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS java/17.0.11 vendor/Amazon.com_Inc. "
                "cfg/retry-mode/standard")
BATCH_UA = ("aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 "
            "api/s3#1.58.2 ft/s3-transfer")
RCLONE = "rclone/v1.67.0"
CURATOR_UA = ("aws-cli/2.15.30 Python/3.11.8 Darwin/23.3.0 exe/x86_64 prompt/off "
              "command/s3.sync")
CONSUMER_UAS = (("htslib/1.19 libcurl/8.5.0", 30), ("samtools/1.19 htslib/1.19 libcurl/7.81.0", 12),
                ("aws-cli/2.13.25 Python/3.11.5 Linux/5.14.0-362.8.1.el9_3.x86_64 "
                 "exe/x86_64.rhel.9 prompt/off command/s3.cp", 14),
                ("curl/8.5.0", 10), ("Wget/1.21.4", 8),
                ("IGV Version 2.17.2 (Java 17.0.9)", 8),
                ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0",
                 9),
                ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, "
                 "like Gecko) Chrome/121.0.0.0 Safari/537.36", 9))
CLINIC_UAS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/121.0.0.0 Safari/537.36 Edg/121.0.2277.83",
              "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/121.0.0.0 Safari/537.36",
              "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
              "Gecko) Version/17.2 Mobile/15E148 Safari/604.1")
VIEWER_SITE = "https://viewer.hibr.example/"

TLS13 = (("TLSv1.3", "TLS_AES_128_GCM_SHA256"), ("TLSv1.3", "TLS_AES_256_GCM_SHA384"))
TLS12 = (("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),)
TLS_ANY = TLS13 + TLS12

# Public first octets the worldwide consumer pool draws from: no private, shared, test or
# reserved space, and none of the threat list's or the incidents' networks.
PUBLIC_FIRST = (23, 24, 34, 38, 47, 50, 64, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 96,
                97, 98, 99, 104, 107, 108, 128, 129, 130, 131, 132, 134, 136, 137, 138, 140,
                143, 146, 147, 149, 150, 152, 155, 156, 158, 160, 161, 164, 165, 166, 173,
                174, 184, 199, 204, 206, 207, 208, 209, 216)
V6_PREFIXES = ("2600:1700", "2601:18c", "2a01:4f8", "2a02:8108", "2001:67c", "240e:3b7",
               "2804:14d", "2405:201")
MIRRORS = ("130.208.44.17", "2001:67c:10ec:49c3:0:0:0:145")
ATHENA_HOSTS = tuple(f"18.218.{a}.{b}" for a in (40, 41, 97) for b in (12, 77, 150, 203))

# Local-hour weights (index = local hour) and weekday factors (Monday first).
LAB_HOURS = (0.02,) * 7 + (0.6,) + (1.0,) * 11 + (0.7, 0.2, 0.1, 0.05, 0.03)
WORLD_HOURS = tuple(0.45 + (0.55 if 8 <= h <= 18 else 0) + (0.3 if 3 <= h <= 11 else 0)
                    + (0.2 if h >= 20 or h <= 3 else 0) for h in range(24))
CLINIC_HOURS = (0.04,) * 6 + (0.3, 0.7) + (1.0,) * 10 + (0.5, 0.4, 0.2, 0.1, 0.06, 0.05)
SCANNING_HOURS = (0.2,) * 6 + (0.5,) + (1.0,) * 12 + (0.6, 0.5, 0.4, 0.3, 0.2)
LAB_WEEK = (1.0, 1.0, 1.0, 1.0, 1.0, 0.3, 0.2)
WORLD_WEEK = (1.0, 1.5, 1.3, 1.1, 1.0, 0.75, 0.7)    # releases come out on Tuesdays
CLINIC_WEEK = (1.0, 1.0, 1.0, 1.0, 1.0, 0.45, 0.35)
HOLIDAY = 0.2


@dataclass(frozen=True)
class Planted:
    incident: str
    day: date


@dataclass(frozen=True)
class LabConfig:
    """What to generate: as pipelines.synthetic.estate.EstateConfig (start, days, scale, seed,
    incidents), plus the days of the benign events, counted from `start` (None: never)."""

    start: date = date(2027, 2, 1)        # a Monday; the third week begins on Presidents' Day
    days: int = 21
    scale: float = 1.0
    seed: int = 5
    incidents: tuple = field(default_factory=tuple)   # Planted
    holiday: int | None = 14
    key_rotation: int | None = 15
    new_service: int | None = 16
    viral: int | None = 17

    def event_day(self, name: str) -> date | None:
        offset = getattr(self, name)
        return None if offset is None else self.start + timedelta(days=offset)


def benign_events(cfg: LabConfig) -> dict[str, date]:
    """The benign events of the estate and their days (those that happen)."""
    out = {name: cfg.event_day(name) for name in ("holiday", "key_rotation", "new_service",
                                                   "viral")}
    return {k: v for k, v in out.items() if v is not None}


# -- one record ------------------------------------------------------------------------

@dataclass(slots=True)
class Rec:
    """One request as S3 logs it (before formatting)."""

    t: int
    ip: str
    requester: str
    op: str
    key: str = "-"
    query: str = ""
    status: int = 200
    error: str = "-"
    sent: int = 0
    size: int = 0
    ua: str = "-"
    referer: str = "-"
    version: str = "-"
    auth: str = "AuthHeader"      # "-" anonymous, QueryString presigned
    tls: tuple[str, str] = TLS13[0]
    style: str = "virtual"        # virtual | path | access point name
    rid: str = ""
    total_ms: int = 0
    host_id: str = ""


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _stamp(t: int) -> str:
    d = datetime.fromtimestamp(t, tz=UTC)
    return (f"[{d.day:02d}/{MONTHS[d.month - 1]}/{d.year}:{d.hour:02d}:{d.minute:02d}:"
            f"{d.second:02d} +0000]")


def _method(op: str) -> str | None:
    kind, _, rest = op.partition(".")
    return rest.split(".")[0] if kind == "REST" else None


def format_line(bucket: str, r: Rec) -> str:
    """The record as a 26-field log line."""
    system = r.op.startswith("S3.")
    method = _method(r.op)
    if method is None:
        uri = "-"
    elif r.style == "path":
        uri = f'"{method} /{bucket}/{"" if r.key == "-" else r.key}{r.query} HTTP/1.1"'
    else:
        uri = f'"{method} /{"" if r.key == "-" else r.key}{r.query} HTTP/1.1"'
    if system:
        host = "-"
    elif r.style == "path":
        host = f"s3.{REGION}.amazonaws.com"
    elif r.style != "virtual":
        host = f"{r.style}-{ACCOUNT}.s3-accesspoint.{REGION}.amazonaws.com"
    elif ":" in r.ip:
        host = f"{bucket}.s3.dualstack.{REGION}.amazonaws.com"
    else:
        host = f"{bucket}.s3.{REGION}.amazonaws.com"
    access_point = (f"arn:aws:s3:{REGION}:{ACCOUNT}:accesspoint/{r.style}"
                    if r.style not in ("virtual", "path") else "-")
    signed = r.auth != "-" and not system
    total = "-" if system else str(r.total_ms)
    turn = "-" if system else str(max(1, r.total_ms // 4))
    return " ".join((
        OWNER, bucket, _stamp(r.t), r.ip, r.requester, r.rid, r.op, r.key, uri,
        "-" if system else str(r.status), r.error, str(r.sent) if r.sent else "-",
        str(r.size) if r.size else "-", total, turn,
        "-" if system else f'"{r.referer}"', "-" if system else f'"{r.ua}"', r.version,
        r.host_id, "SigV4" if signed else "-", "-" if system else r.tls[1],
        r.auth if signed else "-", host, "-" if system else r.tls[0], access_point, "-"))


# -- drawing -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Day:
    """The UTC day being generated and what is going on."""

    cfg: LabConfig
    day: date

    @property
    def start(self) -> int:
        return int(datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC).timestamp())

    def local(self, utc_hour: int) -> tuple[date, int]:
        h = utc_hour + LOCAL_OFFSET
        return (self.day - timedelta(days=1), h + 24) if h < 0 else (self.day, h)

    def is_(self, event: str, local_day: date | None = None) -> bool:
        return self.cfg.event_day(event) == (local_day or self.day)

    def after(self, event: str) -> bool:
        when = self.cfg.event_day(event)
        return when is not None and self.day >= when


def _rng(cfg: LabConfig, day: date, *which: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, day.toordinal(), *which])


def arrivals(rng: np.random.Generator, d: Day, per_day: float, hours: tuple[float, ...],
             week: tuple[float, ...], holiday: float = HOLIDAY,
             extra: Callable[[date], float] | None = None) -> np.ndarray:
    """Epoch seconds of a Poisson process whose rate follows local hours and weekdays:
    `per_day` on an ordinary weekday at scale 1."""
    total = sum(hours)
    rates = []
    for h in range(24):
        local_day, local_hour = d.local(h)
        f = week[local_day.weekday()] * (holiday if d.is_("holiday", local_day) else 1.0)
        if extra is not None:
            f *= extra(local_day)
        rates.append(per_day * d.cfg.scale * hours[local_hour] / total * f)
    counts = rng.poisson(rates)
    secs = [d.start + h * 3600 + rng.integers(0, 3600, size=c) for h, c in enumerate(counts)]
    return np.sort(np.concatenate(secs)).astype(np.int64)


def window(rng: np.random.Generator, d: Day, n: int, utc_hour: float, hours: float
           ) -> np.ndarray:
    """n epoch seconds spread over `hours` from `utc_hour`."""
    lo = d.start + int(utc_hour * 3600)
    return np.sort(lo + rng.integers(0, max(1, int(hours * 3600)), size=n)).astype(np.int64)


def scaled(rng: np.random.Generator, d: Day, n: float) -> int:
    return int(rng.poisson(n * d.cfg.scale))


def _weighted(rng: np.random.Generator, options, n: int) -> list:
    w = np.array([x[1] for x in options], dtype=float)
    idx = rng.choice(len(options), size=n, p=w / w.sum())
    return [options[i][0] for i in idx]


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: stable pseudo-random bits for integer ids."""
    x = x.astype(np.uint64)
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def consumer_addresses(ids: np.ndarray, salt: int) -> list[str]:
    """Stable worldwide addresses for consumer ids: about one in seven is IPv6."""
    bits = _mix64(ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15 & 0xFFFFFFFF)
                  + np.uint64(salt))
    out = []
    for b in bits.tolist():
        if b % 7 == 0:
            groups = [f"{(b >> s) & 0xFFFF:x}" for s in (8, 24, 40)]
            tail = f"{((b >> 56) * 2654435761) & 0xFFFF:x}"
            out.append(f"{V6_PREFIXES[(b >> 3) % len(V6_PREFIXES)]}:{groups[0]}:{groups[1]}:"
                       f"{groups[2]}:{(b >> 20) & 0xFFFF:x}:{(b >> 36) & 0xFFFF:x}:{tail}")
        else:
            out.append(f"{PUBLIC_FIRST[b % len(PUBLIC_FIRST)]}.{(b >> 8) & 255}."
                       f"{(b >> 16) & 255}.{((b >> 24) % 254) + 1}")
    return out


def _ids(rng: np.random.Generator, n: int) -> list[str]:
    return [f"{x:016X}" for x in rng.integers(0, 1 << 62, size=n, dtype=np.int64).tolist()]


def _host_ids(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, 57), dtype=np.uint8)
    return [base64.b64encode(row.tobytes()).decode() for row in raw]


def _ms(rng: np.random.Generator, sent: int) -> int:
    return int(rng.lognormal(3.0, 0.7)) + sent // 6_000_000 + 1


def _finish(rng: np.random.Generator, recs: list[Rec]) -> list[Rec]:
    """Request ids, host ids and times in flight, drawn by the actor's own generator."""
    ids, hosts = _ids(rng, len(recs)), _host_ids(rng, len(recs))
    for r, i, h in zip(recs, ids, hosts):
        if not r.rid:
            r.rid = i
        r.host_id = h
        if not r.total_ms:
            r.total_ms = _ms(rng, r.sent)
    return recs


def _pct(text: str) -> str:
    """URL-encode a query value or key as S3 logs it (slashes kept in keys by the caller)."""
    safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~"
    return "".join(c if c in safe else f"%{ord(c):02X}" for c in text)


def _list_query(prefix: str, v2: bool = True) -> str:
    q = f"?list-type=2&prefix={_pct(prefix)}&delimiter=%2F" if v2 else \
        f"?prefix={_pct(prefix)}&max-keys=1000"
    return q


# -- open-genomes ------------------------------------------------------------------------

RELEASES = ("r2026-11", "r2026-12", "r2027-01")
COHORTS = ("NWGC", "AFR-PGx", "ICU-ARDS")


def _genome_catalog() -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(20270201)
    keys, sizes = [], []
    for rel in RELEASES:
        for cohort in COHORTS:
            for _ in range(120):
                sample = f"S{rng.integers(10000, 99999)}"
                base = f"{rel}/{cohort}/{sample}/{sample}"
                keys += [f"{base}.final.cram", f"{base}.final.cram.crai", f"{base}.g.vcf.gz",
                         f"{base}.g.vcf.gz.tbi"]
                sizes += [int(rng.lognormal(23.5, 0.25)), int(rng.lognormal(13.5, 0.3)),
                          int(rng.lognormal(21.3, 0.3)), int(rng.lognormal(14.3, 0.2))]
        for chrom in [*map(str, range(1, 23)), "X", "Y"]:
            keys.append(f"{rel}/joint/chr{chrom}.vcf.gz")
            sizes.append(int(rng.lognormal(22.5, 0.5)))
    keys += ["README.md", "manifest.tsv", "md5sum.txt", "docs/Data%20Use%20Agreement.pdf"]
    sizes += [9_214, 4_802_117, 611_402, 288_514]
    return keys, np.array(sizes, dtype=np.int64)


GENOME_KEYS, GENOME_SIZES = _genome_catalog()
SMALL_FILES = {k for k in GENOME_KEYS if not k.endswith((".cram", ".vcf.gz"))}


def _object_reads(rng: np.random.Generator, t: int, ip: str, ua: str, requester: str,
                  key: str, size: int, reads: int, *, auth: str = "-", referer: str = "-",
                  tls=TLS_ANY, style: str = "virtual") -> list[Rec]:
    """A client reading one object: a HEAD, then ranged GETs (or one GET of a small file)."""
    tls_pick = tls[int(rng.integers(0, len(tls)))]
    recs = [Rec(t, ip, requester, "REST.HEAD.OBJECT", key, size=size, ua=ua, auth=auth,
                tls=tls_pick, referer=referer, style=style)]
    if key in SMALL_FILES or size < 50_000_000:
        recs.append(Rec(t + 1, ip, requester, "REST.GET.OBJECT", key, sent=size, size=size,
                        ua=ua, auth=auth, tls=tls_pick, referer=referer, style=style))
        return recs
    chunks = np.minimum(rng.lognormal(15.5, 0.8, size=reads).astype(np.int64) + 65_536, size)
    gaps = np.cumsum(rng.integers(0, 4, size=reads)) + 1
    for c, g in zip(chunks.tolist(), gaps.tolist()):
        recs.append(Rec(t + g, ip, requester, "REST.GET.OBJECT", key, status=206, sent=c,
                        size=size, ua=ua, auth=auth, tls=tls_pick, referer=referer,
                        style=style))
    return recs


def _consumer_sessions(rng: np.random.Generator, secs: np.ndarray, addresses: list[str],
                       uas: list[str], popular: np.ndarray, referer: str = "-") -> list[Rec]:
    recs: list[Rec] = []
    for t, ip, ua, obj in zip(secs.tolist(), addresses, uas, popular.tolist()):
        key, size = GENOME_KEYS[obj], int(GENOME_SIZES[obj])
        style = "path" if ua.startswith("Wget") or rng.random() < 0.15 else "virtual"
        if rng.random() < 0.35:  # browse first
            prefix = key.rsplit("/", 1)[0] + "/"
            recs.append(Rec(t, ip, "-", "REST.GET.BUCKET", query=_list_query(prefix),
                            sent=int(rng.integers(900, 9000)), ua=ua, auth="-", style=style))
        if rng.random() < 0.012:  # a mistyped or stale key
            recs.append(Rec(t + 1, ip, "-", "REST.GET.OBJECT", key.replace("r20", "release-20"),
                            status=404, error="NoSuchKey", sent=298, ua=ua, auth="-"))
            continue
        if rng.random() < 0.003:
            recs.append(Rec(t + 1, ip, "-", "REST.GET.OBJECT", key, status=416,
                            error="InvalidRange", sent=302, size=size, ua=ua, auth="-"))
            continue
        recs += _object_reads(rng, t + 1, ip, ua, "-", key, size,
                              int(rng.geometric(0.22)), referer=referer, style=style)
    return recs


def _popular(rng: np.random.Generator, n: int) -> np.ndarray:
    """Objects by popularity: the newest release and the small files most read."""
    rank = (rng.zipf(1.35, size=n) - 1) % len(GENOME_KEYS)
    return (len(GENOME_KEYS) - 1 - rank) % len(GENOME_KEYS)


def genome_consumers(d: Day, rng: np.random.Generator) -> list[Rec]:
    """Anonymous sessions from everywhere; on the viral day, ten times as many, the extra
    ones from addresses the dataset never saw, most reading one featured file."""
    secs = arrivals(rng, d, 1100, WORLD_HOURS, WORLD_WEEK)
    n = len(secs)
    ids = rng.zipf(1.25, size=n) % 40_000
    recs = _consumer_sessions(rng, secs, consumer_addresses(ids, 17),
                              _weighted(rng, CONSUMER_UAS, n), _popular(rng, n))
    if d.is_("viral"):
        extra = window(rng, d, scaled(rng, d, 1100 * 9), 14, 10)
        m = len(extra)
        new = rng.integers(0, 5_000_000, size=m) + 10_000_000
        featured = GENOME_KEYS.index(f"{RELEASES[-1]}/joint/chr17.vcf.gz")
        objs = np.where(rng.random(m) < 0.7, featured, _popular(rng, m))
        browsers = [(ua, w * (6 if ua.startswith("Mozilla") else 1)) for ua, w in CONSUMER_UAS]
        recs += _consumer_sessions(rng, extra, consumer_addresses(new, 23),
                                   _weighted(rng, browsers, m), objs,
                                   referer="https://news.example.org/science/brca-variants")
    return recs


def genome_mirror(d: Day, rng: np.random.Generator) -> list[Rec]:
    """A university mirror: `aws s3 sync --no-sign-request` every night, lists the whole
    tree, then fetches what is new (the new release on Tuesdays)."""
    recs: list[Rec] = []
    ua = ("aws-cli/2.15.30 Python/3.11.8 Linux/4.18.0-513.11.1.el8_9.x86_64 exe/x86_64.rhel.8 "
          "prompt/off command/s3.sync")
    for i, ip in enumerate(MIRRORS):
        t0 = d.start + (6 + i) * 3600 + int(rng.integers(0, 1200))  # 01:00 local
        lists = scaled(rng, d, 260)
        for j in range(lists):
            prefix = f"{RELEASES[j % len(RELEASES)]}/{COHORTS[j % len(COHORTS)]}/"
            recs.append(Rec(t0 + j * 2, ip, "-", "REST.GET.BUCKET",
                            query=_list_query(prefix, v2=True) + f"&continuation-token={j}",
                            sent=int(rng.integers(20_000, 60_000)), ua=ua, auth="-"))
        new = scaled(rng, d, 30 if d.day.weekday() == 2 else 4)
        for obj in rng.integers(len(GENOME_KEYS) - 200, len(GENOME_KEYS), size=new).tolist():
            size = int(GENOME_SIZES[obj])
            recs.append(Rec(t0 + lists * 2 + int(rng.integers(0, 3000)), ip, "-",
                            "REST.GET.OBJECT", GENOME_KEYS[obj], sent=size, size=size, ua=ua,
                            auth="-"))
    return recs


def genome_curator(d: Day, rng: np.random.Generator) -> list[Rec]:
    """The curator: a release every Tuesday (multipart uploads), small edits otherwise."""
    if d.day.weekday() >= 5 or d.is_("holiday"):
        return []
    who = assumed(CURATOR, ("mhernandez", "tokafor")[int(rng.integers(0, 2))])
    ip = CAMPUS + str(int(rng.integers(30, 61))) if rng.random() < 0.8 else \
        CAMPUS_V6 + f"{int(rng.integers(1, 0xFFFF)):x}"
    recs: list[Rec] = []
    t = d.start + 15 * 3600 + int(rng.integers(0, 3600))     # 10:00 local
    files = scaled(rng, d, 36) if d.day.weekday() == 1 else scaled(rng, d, 3)
    release = f"r{d.day:%Y-%m}-wk{d.day.isocalendar().week}"
    for f in range(files):
        key = f"staging/{release}/part-{f:04d}.cram"
        upload = base64.b64encode(rng.integers(0, 256, 48, dtype=np.uint8).tobytes(),
                                  b"-_").decode()
        parts = int(rng.integers(8, 30))
        recs.append(Rec(t, ip, who, "REST.POST.UPLOADS", key, "?uploads", sent=380,
                        ua=CURATOR_UA))
        for p in range(1, parts + 1):
            t += int(rng.integers(2, 9))
            recs.append(Rec(t, ip, who, "REST.PUT.PART", key,
                            f"?partNumber={p}&uploadId={upload}", size=67_108_864,
                            ua=CURATOR_UA))
        recs.append(Rec(t + 1, ip, who, "REST.POST.UPLOAD", key, f"?uploadId={upload}",
                        sent=420, size=parts * 67_108_864, ua=CURATOR_UA))
    for _ in range(scaled(rng, d, 14)):
        t += int(rng.integers(20, 600))
        op = ("REST.GET.BUCKET", "REST.HEAD.OBJECT", "REST.PUT.OBJECT")[int(rng.integers(0, 3))]
        if op == "REST.GET.BUCKET":
            recs.append(Rec(t, ip, who, op, query=_list_query("staging/"), sent=4_000,
                            ua=CURATOR_UA))
        else:
            key = ("README.md", "manifest.tsv", "md5sum.txt")[int(rng.integers(0, 3))]
            recs.append(Rec(t, ip, who, op, key, size=int(GENOME_SIZES[GENOME_KEYS.index(key)]),
                            ua=CURATOR_UA))
    return recs


def genome_lifecycle(d: Day, rng: np.random.Generator) -> list[Rec]:
    """S3 aborting incomplete multipart uploads after seven days."""
    n = scaled(rng, d, 2)
    secs = window(rng, d, n, 0, 2)
    return [Rec(int(t), "-", "AmazonS3", "S3.DELETE.UPLOAD",
                f"staging/stale/part-{int(rng.integers(0, 9999)):04d}.cram", auth="-")
            for t in secs]


# -- imaging-uploads ---------------------------------------------------------------------

def _study_uid(rng: np.random.Generator) -> str:
    return f"1.2.840.113619.2.55.3.{int(rng.integers(10**8, 10**9))}.{int(rng.integers(100, 999))}"


def scanners(d: Day, rng: np.random.Generator) -> list[Rec]:
    """Three sites' DICOM routers uploading through the VPC endpoint, one IAM user each.
    On the key rotation day, site B's second router still holds the retired key for a
    while: a few InvalidAccessKeyId answers from its usual address."""
    recs: list[Rec] = []
    for site, addresses in SITES.items():
        who = iam_user(f"scanner-site-{site}")
        secs = arrivals(rng, d, 1900, SCANNING_HOURS, CLINIC_WEEK)
        n = len(secs)
        study, series, inst = _study_uid(rng), 1, 0
        ips = rng.integers(0, len(addresses), size=n)
        kinds = rng.random(n)
        for t, k, a in zip(secs.tolist(), kinds.tolist(), ips.tolist()):
            inst += 1
            if rng.random() < 0.004:
                study, series, inst = _study_uid(rng), 1, 1
            elif rng.random() < 0.03:
                series, inst = series + 1, 1
            key = f"site-{site}/{d.day:%Y/%m/%d}/{study}/{series}/{inst:05d}.dcm"
            size = int(rng.lognormal(13.1, 0.4))
            ip = addresses[a]
            if k < 0.88:
                recs.append(Rec(t, ip, who, "REST.PUT.OBJECT", key, size=size, ua=ORTHANC,
                                tls=TLS12[0]))
            elif k < 0.985:
                missing = rng.random() < 0.5
                recs.append(Rec(t, ip, who, "REST.HEAD.OBJECT", key,
                                status=404 if missing else 200,
                                error="NoSuchKey" if missing else "-",
                                size=0 if missing else size, ua=ORTHANC, tls=TLS12[0]))
            else:
                recs.append(Rec(t, ip, who, "REST.GET.OBJECT", key, sent=size, size=size,
                                ua=ORTHANC, tls=TLS12[0]))
    if d.is_("key_rotation"):
        for t in window(rng, d, int(rng.integers(4, 10)), 11, 3).tolist():  # 06-09 local
            recs.append(Rec(t, SITES["b"][1], "-", "REST.PUT.OBJECT",
                            f"site-b/{d.day:%Y/%m/%d}/{_study_uid(rng)}/1/00001.dcm",
                            status=403, error="InvalidAccessKeyId", sent=372, ua=ORTHANC,
                            tls=TLS12[0]))
    return recs


def _presigned_query(rng: np.random.Generator, t: int, access_key: str, expires: int,
                     signature: str | None = None) -> str:
    when = datetime.fromtimestamp(t, tz=UTC)
    token = base64.b64encode(rng.integers(0, 256, 180, dtype=np.uint8).tobytes()).decode()
    signature = signature or "".join(f"{b:02x}" for b in rng.integers(0, 256, 32).tolist())
    return (f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={access_key}%2F"
            f"{when:%Y%m%d}%2F{REGION}%2Fs3%2Faws4_request&X-Amz-Date={when:%Y%m%dT%H%M%SZ}"
            f"&X-Amz-Expires={expires}&X-Amz-Security-Token={_pct(token)}"
            f"&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}")


def viewer_sessions(d: Day, rng: np.random.Generator) -> list[Rec]:
    """Clinicians opening studies from hospital networks with presigned URLs the viewer
    signed (ViewerRole): the study's instances one by one, now and then a zip."""
    secs = arrivals(rng, d, 60, CLINIC_HOURS, CLINIC_WEEK)
    sessions = [assumed(VIEWER, f"viewer-{int(x):08x}") for x in
                rng.integers(0, 1 << 32, size=4, dtype=np.int64)]
    networks = list(HOSPITALS.items())
    recs: list[Rec] = []
    for t in secs.tolist():
        net, hosts = networks[int(rng.integers(0, len(networks)))]
        ip = net.rsplit(".", 1)[0] + "." + str(hosts[int(rng.integers(0, len(hosts)))])
        who = sessions[int(rng.integers(0, len(sessions)))]
        access_key = "ASIA2V" + "".join(chr(65 + int(c)) for c in rng.integers(0, 26, 14))
        ua = CLINIC_UAS[int(rng.integers(0, len(CLINIC_UAS)))]
        site = "abc"[int(rng.integers(0, 3))]
        past = d.day - timedelta(days=int(rng.integers(0, 20)))
        study = f"site-{site}/{past:%Y/%m/%d}/{_study_uid(rng)}"
        referer = f"{VIEWER_SITE}study/{study.rsplit('/', 1)[1]}"
        if rng.random() < 0.05:
            size = int(rng.lognormal(19.6, 0.4))
            recs.append(Rec(t, ip, who, "REST.GET.OBJECT", f"{study}/study.zip",
                            _presigned_query(rng, t, access_key, 3600), sent=size, size=size,
                            ua=ua, referer=referer, auth="QueryString"))
            continue
        for i in range(int(rng.integers(10, 60))):
            size = int(rng.lognormal(13.1, 0.4))
            tt = t + i * int(rng.integers(1, 4))
            recs.append(Rec(tt, ip, who, "REST.GET.OBJECT", f"{study}/1/{i + 1:05d}.dcm",
                            _presigned_query(rng, tt, access_key, 3600), sent=size,
                            size=size, ua=ua, referer=referer, auth="QueryString"))
    return recs


CLEANUP_HOSTS = ("10.64.200.17", "10.64.200.84", "10.64.201.9")
CLEANUP_UA = ("Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#5.10.209-222.812.amzn2.x86_64 "
              "md/arch#x86_64 lang/python#3.12.1 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 "
              "cfg/retry-mode#legacy Botocore/1.34.34")


def _multi_delete(rng: np.random.Generator, t: int, ip: str, who: str, keys: list[str]
                  ) -> list[Rec]:
    """One DeleteObjects request: its POST and one BATCH.DELETE.OBJECT per key, all with
    the same request id."""
    rid = _ids(rng, 1)[0]
    recs = [Rec(t, ip, who, "REST.POST.MULTI_OBJECT_DELETE", query="?delete",
                sent=120 + 90 * len(keys), ua=CLEANUP_UA, rid=rid)]
    for k in keys:
        recs.append(Rec(t, ip, who, "BATCH.DELETE.OBJECT", k, status=204,
                        size=int(rng.lognormal(13.1, 0.4)), ua=CLEANUP_UA, rid=rid))
    return recs


def processed_keys(rng: np.random.Generator, day: date, n: int, site: str = "") -> list[str]:
    """n keys of studies uploaded around 30 days before `day` (40 instances a study)."""
    out = []
    for i in range(0, n, 40):
        old = day - timedelta(days=30 + i // 400)
        where = site or "abc"[int(rng.integers(0, 3))]
        study = f"site-{where}/{old:%Y/%m/%d}/{_study_uid(rng)}"
        out += [f"{study}/1/{i + 1:05d}.dcm" for i in range(40)]
    return out[:n]


def cleanup(d: Day, rng: np.random.Generator) -> list[Rec]:
    """Every night at 02:00 local: list what was processed a month ago, delete 100-140
    objects in batches."""
    who = assumed(CLEANUP, f"cleanup-{d.day:%Y%m%d}")
    ip = CLEANUP_HOSTS[int(rng.integers(0, len(CLEANUP_HOSTS)))]
    t = d.start + 7 * 3600 + int(rng.integers(0, 600))
    recs = [Rec(t, ip, who, "REST.GET.BUCKET",
                query=_list_query(f"site-a/{d.day - timedelta(days=30):%Y/%m/%d}/"),
                sent=int(rng.integers(30_000, 90_000)), ua=CLEANUP_UA) for _ in range(3)]
    keys = processed_keys(rng, d.day, int(rng.integers(100, 141)))
    for lo in range(0, len(keys), 50):
        recs += _multi_delete(rng, t + 5 + lo, ip, who, keys[lo:lo + 50])
    return recs


# -- lab-warehouse -----------------------------------------------------------------------

TABLES = ("variants", "phenotypes", "expression", "cohort_manifest", "qc_metrics")


def _warehouse_key(rng: np.random.Generator) -> tuple[str, int]:
    table = TABLES[min(int(rng.zipf(1.8)) - 1, len(TABLES) - 1)]
    part = int(rng.integers(0, 400))
    return (f"warehouse/{table}/cohort={COHORTS[part % 3]}/part-{part:05d}-"
            f"{part * 7919 % 100000:05d}.snappy.parquet", int(rng.lognormal(19.5, 0.6)))


def _warehouse_reads(rng: np.random.Generator, secs: np.ndarray, ips: list[str], who: list[str],
                     ua: str, style: str = "virtual", chunk_mu: float = 15.2,
                     write_share: float = 0.0) -> list[Rec]:
    recs = []
    for t, ip, w, k in zip(secs.tolist(), ips, who, rng.random(len(secs)).tolist()):
        key, size = _warehouse_key(rng)
        if k < write_share:
            out = key.replace("warehouse/", "scratch/").replace(".snappy.parquet", ".vcf.gz")
            recs.append(Rec(t, ip, w, "REST.PUT.OBJECT", out, size=size // 8, ua=ua,
                            style=style))
        elif k < write_share + 0.1:
            prefix = key.rsplit("/", 1)[0] + "/"
            recs.append(Rec(t, ip, w, "REST.GET.BUCKET", query=_list_query(prefix),
                            sent=int(rng.integers(2_000, 40_000)), ua=ua, style=style))
        elif k < write_share + 0.25:
            recs.append(Rec(t, ip, w, "REST.HEAD.OBJECT", key, size=size, ua=ua, style=style))
        else:
            sent = min(size, int(rng.lognormal(chunk_mu, 0.7)) + 8)
            recs.append(Rec(t, ip, w, "REST.GET.OBJECT", key, status=206 if sent < size else 200,
                            sent=sent, size=size, ua=ua, style=style))
    return recs


def emr(d: Day, rng: np.random.Generator) -> list[Rec]:
    """Analysts' EMR clusters: new nodes every day in the cluster subnet."""
    secs = arrivals(rng, d, 4200, LAB_HOURS, LAB_WEEK, holiday=0.15)
    nodes = [f"10.72.{16 + int(rng.integers(0, 4))}.{int(rng.integers(4, 250))}"
             for _ in range(int(rng.integers(8, 25)))]
    instances = [f"i-0{int(x):016x}" for x in rng.integers(0, 1 << 60, size=len(nodes),
                                                           dtype=np.int64)]
    pick = rng.integers(0, len(nodes), size=len(secs)).tolist()
    return _warehouse_reads(rng, secs, [nodes[i] for i in pick],
                            [assumed(EMR, instances[i]) for i in pick], EMRFS)


def etl(d: Day, rng: np.random.Generator) -> list[Rec]:
    """The nightly Glue job (01:00-04:00 local) rewrites the day's partitions."""
    n = scaled(rng, d, 1200)
    secs = window(rng, d, n, 6, 3)
    hosts = [f"10.72.40.{int(x)}" for x in rng.integers(10, 200, size=6)]
    who = assumed(ETL, "GlueJobRunnerSession")
    recs = []
    for t, k in zip(secs.tolist(), rng.random(n).tolist()):
        ip = hosts[int(rng.integers(0, len(hosts)))]
        key, size = _warehouse_key(rng)
        if k < 0.7:
            recs.append(Rec(t, ip, who, "REST.PUT.OBJECT", key, size=size, ua=GLUE_ETL))
        elif k < 0.8:
            recs.append(Rec(t, ip, who, "REST.GET.BUCKET",
                            query=_list_query(key.rsplit("/", 1)[0] + "/"),
                            sent=int(rng.integers(2_000, 40_000)), ua=GLUE_ETL))
        else:
            recs.append(Rec(t, ip, who, "REST.HEAD.OBJECT", key, size=size, ua=GLUE_ETL))
    return recs


def crawler(d: Day, rng: np.random.Generator) -> list[Rec]:
    """The Glue crawler at 05:00 local: lists every partition, reads a few footers."""
    ip = f"10.72.40.{int(rng.integers(10, 200))}"
    who = assumed(CRAWLER, "AWS-Crawler")
    t = d.start + 10 * 3600 + int(rng.integers(0, 600))
    recs = []
    for i in range(scaled(rng, d, 300)):
        table = TABLES[i % len(TABLES)]
        recs.append(Rec(t + i, ip, who, "REST.GET.BUCKET",
                        query=_list_query(f"warehouse/{table}/cohort={COHORTS[i % 3]}/"),
                        sent=int(rng.integers(2_000, 30_000)), ua=CRAWLER_UA))
    for i in range(scaled(rng, d, 120)):
        key, size = _warehouse_key(rng)
        recs.append(Rec(t + 300 + i, ip, who, "REST.GET.OBJECT", key, status=206, sent=65_536,
                        size=size, ua=CRAWLER_UA))
    return recs


def athena(d: Day, rng: np.random.Generator) -> list[Rec]:
    """Athena queries over Lake Formation tables: S3 sees Lake Formation's service-linked
    role (credential vending), from AWS's own addresses."""
    secs = arrivals(rng, d, 2200, LAB_HOURS, LAB_WEEK)
    sessions = [assumed(LAKE_FORMATION, f"AWSLF-00-AT-{ACCOUNT}-{int(x):010d}")
                for x in rng.integers(0, 10**10, size=6, dtype=np.int64)]
    ips = [ATHENA_HOSTS[int(i)] for i in rng.integers(0, len(ATHENA_HOSTS), size=len(secs))]
    who = [sessions[int(i)] for i in rng.integers(0, len(sessions), size=len(secs))]
    recs = _warehouse_reads(rng, secs, ips, who, AWS_INTERNAL)
    for r in recs:
        if rng.random() < 0.3:
            r.ua = "athena.amazonaws.com"
    return recs


def variant_caller(d: Day, rng: np.random.Generator) -> list[Rec]:
    """The new service: AWS Batch jobs calling variants, through an access point, from
    the day it starts (it reads CRAM slices and writes VCFs)."""
    if not d.after("new_service"):
        return []
    secs = arrivals(rng, d, 1500, (1.0,) * 24, (1.0,) * 7, holiday=1.0)
    hosts = [f"10.72.48.{int(x)}" for x in rng.integers(5, 250, size=10)]
    jobs = [f"batch-job-{int(x):012x}" for x in rng.integers(0, 1 << 40, size=8,
                                                              dtype=np.int64)]
    n = len(secs)
    return _warehouse_reads(
        rng, secs, [hosts[int(i)] for i in rng.integers(0, len(hosts), size=n)],
        [assumed(VARIANT_CALLER, jobs[int(i)]) for i in rng.integers(0, len(jobs), size=n)],
        BATCH_UA, style="variant-calling", chunk_mu=16.8, write_share=0.1)


# -- cold-vault --------------------------------------------------------------------------

def replication(d: Day, rng: np.random.Generator) -> list[Rec]:
    """The nightly copy into the vault, 23:00-24:00 local (04:00 UTC), by rclone."""
    who = assumed(REPLICATION, f"replicate-{d.day:%Y%m%d}")
    t = d.start + 4 * 3600 + int(rng.integers(0, 300))
    recs = [Rec(t, REPLICATION_HOST, who, "REST.GET.BUCKET", query=_list_query(f"{y}/")
                , sent=int(rng.integers(10_000, 80_000)), ua=RCLONE)
            for y in ("imaging", "warehouse", "genomes")]
    for f in range(scaled(rng, d, 30)):
        key = f"{('imaging', 'warehouse', 'genomes')[f % 3]}/{d.day:%Y-%m-%d}/bundle-{f:03d}.tar"
        upload = base64.b64encode(rng.integers(0, 256, 48, dtype=np.uint8).tobytes(),
                                  b"-_").decode()
        parts = int(rng.integers(20, 60))
        t += int(rng.integers(5, 40))
        recs.append(Rec(t, REPLICATION_HOST, who, "REST.HEAD.OBJECT", key, status=404,
                        error="NoSuchKey", ua=RCLONE))
        recs.append(Rec(t + 1, REPLICATION_HOST, who, "REST.POST.UPLOADS", key, "?uploads",
                        sent=390, ua=RCLONE))
        for p in range(1, parts + 1):
            t += 1 if p % 4 else 2
            recs.append(Rec(t, REPLICATION_HOST, who, "REST.PUT.PART", key,
                            f"?partNumber={p}&uploadId={upload}", size=104_857_600, ua=RCLONE))
        recs.append(Rec(t + 1, REPLICATION_HOST, who, "REST.POST.UPLOAD", key,
                        f"?uploadId={upload}", sent=440, size=parts * 104_857_600, ua=RCLONE))
    return recs


def vault_lifecycle(d: Day, rng: np.random.Generator) -> list[Rec]:
    """Noncurrent versions expiring after 90 days."""
    n = scaled(rng, d, 60)
    secs = window(rng, d, n, 1, 2)
    old = d.day - timedelta(days=90)
    return [Rec(int(t), "-", "AmazonS3", "S3.EXPIRE.OBJECT",
                f"imaging/{old:%Y-%m-%d}/bundle-{i:03d}.tar",
                version=base64.b64encode(rng.integers(0, 256, 24, dtype=np.uint8).tobytes(),
                                         b"._").decode(),
                size=int(rng.lognormal(22, 0.5)), auth="-")
            for i, t in enumerate(secs.tolist())]


def vault_audit(d: Day, rng: np.random.Generator) -> list[Rec]:
    """On Fridays an auditor restores a couple of versions to check the backups."""
    if d.day.weekday() != 4 or d.is_("holiday"):
        return []
    who = assumed(AUDITOR, "backup-audit")
    ip = CAMPUS + str(int(rng.integers(61, 90)))
    t = d.start + 19 * 3600 + int(rng.integers(0, 1800))
    past = d.day - timedelta(days=int(rng.integers(1, 10)))
    recs = [Rec(t, ip, who, "REST.GET.BUCKET", query=_list_query(f"imaging/{past}/"),
                sent=6_000, ua=CURATOR_UA.replace("s3.sync", "s3api.list-object-versions"),
                tls=TLS13[1])]
    for i in range(int(rng.integers(1, 4))):
        size = int(rng.lognormal(21, 0.4))
        version = base64.b64encode(rng.integers(0, 256, 24, dtype=np.uint8).tobytes(),
                                   b"._").decode()
        recs.append(Rec(t + 30 + i * 200, ip, who, "REST.GET.OBJECT",
                        f"imaging/{past}/bundle-{i:03d}.tar", f"?versionId={version}",
                        sent=size, size=size, version=version,
                        ua=CURATOR_UA.replace("s3.sync", "s3api.get-object"), tls=TLS13[1]))
    return recs


def access_analyzer(bucket: str) -> Callable[[Day, np.random.Generator], list[Rec]]:
    def make(d: Day, rng: np.random.Generator) -> list[Rec]:
        """IAM Access Analyzer reading the bucket's settings."""
        t = d.start + int(rng.integers(0, 86400 - 60))
        who = assumed(ACCESS_ANALYZER, "access-analyzer")
        return [Rec(t + i, "-", who, op, query=q, sent=int(rng.integers(200, 2000)),
                    ua="access-analyzer.amazonaws.com")
                for i, (op, q) in enumerate((("REST.GET.BUCKETPOLICY", "?policy"),
                                             ("REST.GET.ACL", "?acl"),
                                             ("REST.GET.PUBLIC_ACCESS_BLOCK", "?publicAccessBlock"),
                                             ("REST.GET.BUCKETPOLICYSTATUS", "?policyStatus")))]
    return make


ACTORS: tuple[tuple[str, Callable[[Day, np.random.Generator], list[Rec]]], ...] = (
    ("open-genomes", genome_consumers), ("open-genomes", genome_mirror),
    ("open-genomes", genome_curator), ("open-genomes", genome_lifecycle),
    ("imaging-uploads", scanners), ("imaging-uploads", viewer_sessions),
    ("imaging-uploads", cleanup),
    ("lab-warehouse", emr), ("lab-warehouse", etl), ("lab-warehouse", crawler),
    ("lab-warehouse", athena), ("lab-warehouse", variant_caller),
    ("cold-vault", replication), ("cold-vault", vault_lifecycle), ("cold-vault", vault_audit),
    *((b, access_analyzer(b)) for b in BUCKETS),
)


# -- incidents ---------------------------------------------------------------------------

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
    query = _presigned_query(rng, t0, access_key, 43200, signature)
    key = f"site-b/{d.day - timedelta(days=2):%Y/%m/%d}/{_study_uid(rng)}/study.zip"
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
        recs += _multi_delete(rng, t0 + lo // 1000 * 700 + int(rng.integers(0, 60)), ip, who,
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
            key = f"site-a/2027/01/{1 + i % 28:02d}/{_study_uid(rng)}/1/00001.dcm"
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


# -- generating --------------------------------------------------------------------------

def _silences(cfg: LabConfig, day: date, bucket: str) -> list[tuple[int, int]]:
    """Epoch-second ranges of the bucket's day whose records the incidents remove."""
    start = Day(cfg, day).start
    out = []
    for p in cfg.incidents:
        incident = INCIDENTS[p.incident]
        if p.day == day and incident.bucket == bucket and incident.silent_hours:
            a, b = incident.silent_hours
            out.append((start + a * 3600, start + b * 3600))
    return out


def day_records(cfg: LabConfig, day: date) -> dict[str, list[Rec]]:
    """Each bucket's records of one UTC day, in time order: the actors', the incidents
    planted that day, less what the incidents silence."""
    d = Day(cfg, day)
    out: dict[str, list[Rec]] = {b: [] for b in BUCKETS}
    for i, (bucket, make) in enumerate(ACTORS):
        rng = _rng(cfg, day, i)
        out[bucket] += _finish(rng, make(d, rng))
    names = list(INCIDENTS)
    for p in cfg.incidents:
        if p.day == day:
            incident = INCIDENTS[p.incident]
            rng = _rng(cfg, day, 1000 + names.index(p.incident))
            out[incident.bucket] += _finish(rng, incident.make(d, rng))
    for bucket, recs in out.items():
        gone = _silences(cfg, day, bucket)
        kept = [r for r in recs if not any(a <= r.t < b for a, b in gone)]
        kept.sort(key=lambda r: r.t)   # stable: a request's records stay in order
        out[bucket] = kept
    return out


def day_lines(cfg: LabConfig, day: date) -> dict[str, list[tuple[int, str]]]:
    """Each bucket's (epoch second, log line) of one day."""
    return {bucket: [(r.t, format_line(bucket, r)) for r in recs]
            for bucket, recs in day_records(cfg, day).items()}


def generate_objects(cfg: LabConfig, prefix: str = "logs/") -> Iterator[tuple[str, bytes]]:
    """(key, content) of the log objects, SimplePrefix keys (`prefixYYYY-mm-DD-HH-MM-SS-
    UNIQUE`, the delivery time): per bucket and hour, one object per 1,500 records or so,
    each delivered 5-60 minutes after its hour, one in fifty a day late. A day at a time."""
    for n in range(cfg.days):
        day = cfg.start + timedelta(days=n)
        for i, lines in enumerate(day_lines(cfg, day).values()):
            rng = _rng(cfg, day, 3000 + i)
            by_hour: dict[int, list[tuple[int, str]]] = {}
            for t, line in lines:
                by_hour.setdefault(t // 3600, []).append((t, line))
            for hour, rows in by_hour.items():
                pieces = max(1, math.ceil(len(rows) / 1500))
                shard = rng.integers(0, pieces, size=len(rows))
                for s in range(pieces):
                    body = [line for (_, line), k in zip(rows, shard.tolist()) if k == s]
                    if not body:
                        continue
                    delivered = (hour + 1) * 3600 + int(rng.integers(300, 3600))
                    if rng.random() < 0.02:
                        delivered += 86400 + int(rng.integers(0, 7200))
                    stamp = datetime.fromtimestamp(delivered, tz=UTC)
                    unique = "".join(f"{b:02X}" for b in rng.integers(0, 256, 8).tolist())
                    yield (f"{prefix}{stamp:%Y-%m-%d-%H-%M-%S}-{unique}",
                           ("\n".join(body) + "\n").encode())


def write_objects(cfg: LabConfig, root: str | os.PathLike) -> list[str]:
    """Write the estate's log objects under a local folder (`root/logs/...`); returns the
    keys written."""
    keys = []
    for key, body in generate_objects(cfg):
        path = Path(root, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        keys.append(key)
    return keys
