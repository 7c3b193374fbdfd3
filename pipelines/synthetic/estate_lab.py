"""A second estate, built apart from the first (pipelines.synthetic.estate), so that the detections
are measured on traffic they were not tuned on: a biomedical research institute.

Nothing here comes from pipelines.synthetic.estate, pipelines.synthetic.incidents or
pipelines.synthetic.synth: the addresses, accounts, roles, user agents, rhythms, operation
mix, delivery and the log-line formatter are this estate's own (this module and its
parts, the `lab_*` modules, import the standard library, numpy and each other only). The
lines are the 26 fields AWS documents up to aclRequired and must parse with no reject.

Its parts, in pipelines.synthetic: lab_population (who, where and when), lab_records (a
record and its log line), the routine traffic of each bucket (lab_genomes, lab_imaging,
lab_warehouse, lab_vault) and lab_incidents. This module lists the actors, composes each
day from them and the incidents planted on it, and delivers it as log objects.

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

Incidents (lab_incidents.INCIDENTS) are overlays planted on a day; each names its bucket, its story,
the detections that should find it and the principal or address a finding must name.
Every actor, incident and delivery draws from its own generator seeded by (seed, day,
which), so a planted run's benign traffic is the benign run's, record for record.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from pipelines.synthetic.lab_genomes import (
    genome_consumers,
    genome_curator,
    genome_lifecycle,
    genome_mirror,
)
from pipelines.synthetic.lab_imaging import cleanup, scanners, viewer_sessions
from pipelines.synthetic.lab_incidents import INCIDENTS
from pipelines.synthetic.lab_population import (
    ACCESS_ANALYZER,
    BUCKETS,
    Day,
    LabConfig,
    assumed,
)
from pipelines.synthetic.lab_records import Rec, finish, format_line
from pipelines.synthetic.lab_vault import replication, vault_audit, vault_lifecycle
from pipelines.synthetic.lab_warehouse import athena, crawler, emr, etl, variant_caller


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


def _rng(cfg: LabConfig, day: date, *which: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, day.toordinal(), *which])


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
        out[bucket] += finish(rng, make(d, rng))
    names = list(INCIDENTS)
    for p in cfg.incidents:
        if p.day == day:
            incident = INCIDENTS[p.incident]
            rng = _rng(cfg, day, 1000 + names.index(p.incident))
            out[incident.bucket] += finish(rng, incident.make(d, rng))
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
