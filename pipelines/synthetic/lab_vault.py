"""`cold-vault`: the nightly replication into the backup vault, lifecycle expiring
noncurrent versions, and the auditor's Friday restores.
"""

from __future__ import annotations

import base64
from datetime import timedelta

import numpy as np

from pipelines.synthetic.lab_population import (
    AUDITOR,
    CAMPUS,
    CURATOR_UA,
    RCLONE,
    REPLICATION,
    REPLICATION_HOST,
    TLS13,
    Day,
    assumed,
    scaled,
    window,
)
from pipelines.synthetic.lab_records import Rec, list_query


def replication(d: Day, rng: np.random.Generator) -> list[Rec]:
    """The nightly copy into the vault, 23:00-24:00 local (04:00 UTC), by rclone."""
    who = assumed(REPLICATION, f"replicate-{d.day:%Y%m%d}")
    t = d.start + 4 * 3600 + int(rng.integers(0, 300))
    recs = [Rec(t, REPLICATION_HOST, who, "REST.GET.BUCKET", query=list_query(f"{y}/")
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
    recs = [Rec(t, ip, who, "REST.GET.BUCKET", query=list_query(f"imaging/{past}/"),
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
