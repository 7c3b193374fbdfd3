"""`open-genomes`, the institute's public dataset: anonymous consumers worldwide, a
university mirror, the curator's releases and S3's lifecycle.
"""

from __future__ import annotations

import base64

import numpy as np

from pipelines.synthetic.lab_population import (
    CAMPUS,
    CAMPUS_V6,
    COHORTS,
    CONSUMER_UAS,
    CURATOR,
    CURATOR_UA,
    MIRRORS,
    TLS_ANY,
    WORLD_HOURS,
    WORLD_WEEK,
    Day,
    arrivals,
    assumed,
    consumer_addresses,
    scaled,
    window,
)
from pipelines.synthetic.lab_records import Rec, list_query

RELEASES = ("r2026-11", "r2026-12", "r2027-01")


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


def _weighted(rng: np.random.Generator, options, n: int) -> list:
    w = np.array([x[1] for x in options], dtype=float)
    idx = rng.choice(len(options), size=n, p=w / w.sum())
    return [options[i][0] for i in idx]


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
            recs.append(Rec(t, ip, "-", "REST.GET.BUCKET", query=list_query(prefix),
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
                            query=list_query(prefix, v2=True) + f"&continuation-token={j}",
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
            recs.append(Rec(t, ip, who, op, query=list_query("staging/"), sent=4_000,
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
