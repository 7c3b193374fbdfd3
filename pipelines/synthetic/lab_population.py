"""The research institute's population (pipelines.synthetic.estate_lab): its account,
buckets, principals, networks, user agents and rhythms, the calendar of what is generated
(LabConfig, Day), and the draws of when requests arrive and from which addresses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

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
# The cohorts the institute studies: in the public dataset and in the lab's warehouse.
COHORTS = ("NWGC", "AFR-PGx", "ICU-ARDS")


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
