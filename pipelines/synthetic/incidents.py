"""Named incidents, planted on top of the estate's benign traffic (pipelines.synthetic.estate).

Each one is what a security team would want to hear about, shaped as it shows in access
logs, with the detections that should find it. The demo plants a couple; the evaluation
(`make eval`) plants each one into weeks of benign traffic and checks it is found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa

from pipelines.synthetic.actors import OFFICE, PROD, Requests, addresses, role
from pipelines.synthetic.synth import pick

ATTACKER = "185.220.101.47"        # listed in examples/threat_list.csv
SCANNER = "45.155.205.233"


@dataclass(frozen=True)
class Incident:
    name: str
    bucket: str
    story: str
    detections: tuple[str, ...]       # any of them finding it counts
    make: Callable[[np.random.Generator, int], Requests | None]   # day start -> requests
    silent_hours: tuple[int, int] | None = None                  # logs stop [from, to)


@dataclass(frozen=True)
class Planted:
    incident: str
    day: date


def _at(start: int, hour: int, n: int, rng: np.random.Generator, spread: int = 3600
        ) -> np.ndarray:
    return np.sort(start + hour * 3600 + rng.integers(0, spread, size=n))


def _requests(bucket: str, secs: np.ndarray, requester: str, ip, operation: str, *,
              status: int = 200, error: str = "-", size: int = 0, sent: int | None = None,
              key: object = None, user_agent: str = "aws-cli/2.17.40", auth: str = "AuthHeader"
              ) -> Requests:
    n = len(secs)
    if key is None:
        key = pa.array([f"ledger/{i:06d}.bin" for i in range(n)])
    return Requests(bucket, secs, requester, ip, operation, key, status, error,
                    np.full(n, size if sent is None else sent), np.full(n, size), user_agent,
                    auth=auth, tls="TLSv1.3")


def _credential_misuse(rng, start):
    """AnalyticsRole's credentials used from abroad at night: 1,500 downloads, 300 GB."""
    n = 1500
    secs = _at(start, 2, n, rng, spread=3 * 3600)
    return _requests("data-lake-raw", secs, role(PROD, "AnalyticsRole") + "/bob@example.com",
                     ATTACKER, "REST.GET.OBJECT", size=200_000_000,
                     key=pa.array([f"raw/events/{i:06d}.bin" for i in range(n)]))


def _unknown_principal(rng, start):
    """An account nobody knows reads the payments ledger (a policy grant too wide)."""
    secs = _at(start, 15, 60, rng)
    return _requests("payments-prod", secs, "arn:aws:iam::999988887777:user/contractor",
                     "52.95.110.1", "REST.GET.OBJECT", size=40_000)


def _anonymous_private(rng, start):
    """Someone made a ledger object public: anonymous downloads from several addresses."""
    secs = _at(start, 10, 40, rng, spread=7200)
    ips = addresses(rng.integers(0, 1 << 20, size=40), seed=99)
    return _requests("payments-prod", secs, "-", ips, "REST.GET.OBJECT", size=2_000_000,
                     key="ledger/2026/exports/customers.csv", auth="-",
                     user_agent="python-requests/2.32.3")


def _auth_failure_burst(rng, start):
    """A stolen or guessed key tried again and again: InvalidAccessKeyId and bad
    signatures from one address."""
    secs = _at(start, 4, 240, rng)
    error = pick(["InvalidAccessKeyId", "SignatureDoesNotMatch"], rng.integers(0, 2, 240))
    return _requests("partner-exchange", secs, "-", SCANNER, "REST.GET.BUCKET", status=403,
                     error=error, sent=300, key="-", user_agent="python-requests/2.32.3")


def _scanning(rng, start):
    """Enumeration of the website bucket: guessed keys, most of them missing."""
    n = 900
    secs = _at(start, 21, n, rng, spread=1800)
    keys = pa.array([f"{p}{i}" for i, p in zip(range(n), ["backup/", ".git/", "admin/",
                                                           "config/", "db/"] * n)])
    return _requests("shop-website", secs, "-", SCANNER, "REST.GET.OBJECT", status=404,
                     error="NoSuchKey", sent=300, key=keys, auth="-",
                     user_agent="Mozilla/5.0 zgrab/0.x")


def _mass_delete(rng, start):
    """The pipeline role deletes 3,000 objects in twenty minutes (a bad job, or worse)."""
    n = 3000
    secs = _at(start, 14, n, rng, spread=1200)
    return _requests("data-lake-raw", secs, role(PROD, "DataPipelineRole") +
                     "/glue-job-events", "10.30.1.21", "REST.DELETE.OBJECT", status=204,
                     key=pick([f"raw/events/{i:06d}.bin" for i in range(n)],
                               np.arange(n)))


def _config_change(rng, start):
    """The payments bucket's policy replaced and its public access block removed."""
    secs = _at(start, 16, 3, rng, spread=600)
    ops = pick(["REST.PUT.BUCKETPOLICY", "REST.DELETE.PUBLIC_ACCESS_BLOCK",
                 "REST.PUT.ACL"], np.arange(3))
    return _requests("payments-prod", secs, f"arn:aws:iam::{PROD}:user/alice", OFFICE[1],
                     ops, status=204, key="-")


def _delivery_gap(rng, start):
    return None  # nothing added: the bucket's logs stop (silent_hours)


INCIDENTS = {i.name: i for i in (
    Incident("credential_misuse", "data-lake-raw", _credential_misuse.__doc__,
             ("exfiltration", "new_network", "threat_list", "policy_network"),
             _credential_misuse),
    Incident("unknown_principal", "payments-prod", _unknown_principal.__doc__,
             ("new_principal", "policy_principal"), _unknown_principal),
    Incident("anonymous_private", "payments-prod", _anonymous_private.__doc__,
             ("anonymous_access", "policy_anonymous"), _anonymous_private),
    Incident("auth_failure_burst", "partner-exchange", _auth_failure_burst.__doc__,
             ("auth_failure_burst",), _auth_failure_burst),
    Incident("scanning", "shop-website", _scanning.__doc__, ("enumeration",), _scanning),
    Incident("mass_delete", "data-lake-raw", _mass_delete.__doc__, ("mass_delete",),
             _mass_delete),
    Incident("config_change", "payments-prod", _config_change.__doc__, ("config_change",),
             _config_change),
    Incident("delivery_gap", "partner-exchange", "The partner bucket's logs stop at 09:00 "
             "(logging turned off, or the delivery permission broken).",
             ("log_delivery_gap",), _delivery_gap, silent_hours=(9, 24)),
)}


def _start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def overlay(rng: np.random.Generator, planted, day: date, bucket: str) -> list[Requests]:
    """The requests the incidents planted on this day and bucket add."""
    out = []
    for p in planted:
        incident = INCIDENTS[p.incident]
        if p.day == day and incident.bucket == bucket:
            made = incident.make(rng, _start(day))
            if made is not None:
                out.append(made)
    return out


def silenced(planted, day: date, bucket: str) -> list[tuple[int, int]]:
    """Epoch-second ranges whose records the incidents planted here remove."""
    out = []
    for p in planted:
        incident = INCIDENTS[p.incident]
        if p.day == day and incident.bucket == bucket and incident.silent_hours:
            a, b = incident.silent_hours
            out.append((_start(day) + a * 3600, _start(day) + b * 3600))
    return out

