"""`lab-warehouse`: analysts' EMR clusters, the nightly Glue ETL and crawler, Athena
through Lake Formation, and (from its first day) the new variant-calling service.
"""

from __future__ import annotations

import numpy as np

from pipelines.synthetic.lab_population import (
    ACCOUNT,
    ATHENA_HOSTS,
    AWS_INTERNAL,
    BATCH_UA,
    COHORTS,
    CRAWLER,
    CRAWLER_UA,
    EMR,
    EMRFS,
    ETL,
    GLUE_ETL,
    LAB_HOURS,
    LAB_WEEK,
    LAKE_FORMATION,
    VARIANT_CALLER,
    Day,
    arrivals,
    assumed,
    scaled,
    window,
)
from pipelines.synthetic.lab_records import Rec, list_query

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
            recs.append(Rec(t, ip, w, "REST.GET.BUCKET", query=list_query(prefix),
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
                            query=list_query(key.rsplit("/", 1)[0] + "/"),
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
                        query=list_query(f"warehouse/{table}/cohort={COHORTS[i % 3]}/"),
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
