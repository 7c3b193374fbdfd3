"""`imaging-uploads`: hospital scanners uploading DICOM, clinicians opening studies with
presigned URLs the viewer signed, and the nightly cleanup's multi-object deletes.
"""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta

import numpy as np

from pipelines.synthetic.lab_population import (
    CLEANUP,
    CLINIC_HOURS,
    CLINIC_UAS,
    CLINIC_WEEK,
    HOSPITALS,
    ORTHANC,
    REGION,
    SCANNING_HOURS,
    SITES,
    TLS12,
    VIEWER,
    VIEWER_SITE,
    Day,
    arrivals,
    assumed,
    iam_user,
    window,
)
from pipelines.synthetic.lab_records import Rec, list_query, request_ids, url_encode


def study_uid(rng: np.random.Generator) -> str:
    """A DICOM study instance UID: of the studies uploaded, viewed and cleaned up here,
    and of those the incidents read or share (pipelines.synthetic.lab_incidents)."""
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
        study, series, inst = study_uid(rng), 1, 0
        ips = rng.integers(0, len(addresses), size=n)
        kinds = rng.random(n)
        for t, k, a in zip(secs.tolist(), kinds.tolist(), ips.tolist()):
            inst += 1
            if rng.random() < 0.004:
                study, series, inst = study_uid(rng), 1, 1
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
                            f"site-b/{d.day:%Y/%m/%d}/{study_uid(rng)}/1/00001.dcm",
                            status=403, error="InvalidAccessKeyId", sent=372, ua=ORTHANC,
                            tls=TLS12[0]))
    return recs


def presigned_query(rng: np.random.Generator, t: int, access_key: str, expires: int,
                    signature: str | None = None) -> str:
    """The query of a presigned GET (SigV4 in the query, a session token): the viewer's
    links, and the one a clinician shared (pipelines.synthetic.lab_incidents)."""
    when = datetime.fromtimestamp(t, tz=UTC)
    token = base64.b64encode(rng.integers(0, 256, 180, dtype=np.uint8).tobytes()).decode()
    signature = signature or "".join(f"{b:02x}" for b in rng.integers(0, 256, 32).tolist())
    return (f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={access_key}%2F"
            f"{when:%Y%m%d}%2F{REGION}%2Fs3%2Faws4_request&X-Amz-Date={when:%Y%m%dT%H%M%SZ}"
            f"&X-Amz-Expires={expires}&X-Amz-Security-Token={url_encode(token)}"
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
        study = f"site-{site}/{past:%Y/%m/%d}/{study_uid(rng)}"
        referer = f"{VIEWER_SITE}study/{study.rsplit('/', 1)[1]}"
        if rng.random() < 0.05:
            size = int(rng.lognormal(19.6, 0.4))
            recs.append(Rec(t, ip, who, "REST.GET.OBJECT", f"{study}/study.zip",
                            presigned_query(rng, t, access_key, 3600), sent=size, size=size,
                            ua=ua, referer=referer, auth="QueryString"))
            continue
        for i in range(int(rng.integers(10, 60))):
            size = int(rng.lognormal(13.1, 0.4))
            tt = t + i * int(rng.integers(1, 4))
            recs.append(Rec(tt, ip, who, "REST.GET.OBJECT", f"{study}/1/{i + 1:05d}.dcm",
                            presigned_query(rng, tt, access_key, 3600), sent=size,
                            size=size, ua=ua, referer=referer, auth="QueryString"))
    return recs


CLEANUP_HOSTS = ("10.64.200.17", "10.64.200.84", "10.64.201.9")
CLEANUP_UA = ("Boto3/1.34.34 md/Botocore#1.34.34 ua/2.0 os/linux#5.10.209-222.812.amzn2.x86_64 "
              "md/arch#x86_64 lang/python#3.12.1 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 "
              "cfg/retry-mode#legacy Botocore/1.34.34")


def multi_delete(rng: np.random.Generator, t: int, ip: str, who: str, keys: list[str]
                 ) -> list[Rec]:
    """One DeleteObjects request: its POST and one BATCH.DELETE.OBJECT per key, all with
    the same request id: the cleanup's, and the bad deploy's of the mass_delete incident
    (pipelines.synthetic.lab_incidents)."""
    rid = request_ids(rng, 1)[0]
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
        study = f"site-{where}/{old:%Y/%m/%d}/{study_uid(rng)}"
        out += [f"{study}/1/{i + 1:05d}.dcm" for i in range(40)]
    return out[:n]


def cleanup(d: Day, rng: np.random.Generator) -> list[Rec]:
    """Every night at 02:00 local: list what was processed a month ago, delete 100-140
    objects in batches."""
    who = assumed(CLEANUP, f"cleanup-{d.day:%Y%m%d}")
    ip = CLEANUP_HOSTS[int(rng.integers(0, len(CLEANUP_HOSTS)))]
    t = d.start + 7 * 3600 + int(rng.integers(0, 600))
    recs = [Rec(t, ip, who, "REST.GET.BUCKET",
                query=list_query(f"site-a/{d.day - timedelta(days=30):%Y/%m/%d}/"),
                sent=int(rng.integers(30_000, 90_000)), ua=CLEANUP_UA) for _ in range(3)]
    keys = processed_keys(rng, d.day, int(rng.integers(100, 141)))
    for lo in range(0, len(keys), 50):
        recs += multi_delete(rng, t + 5 + lo, ip, who, keys[lo:lo + 50])
    return recs
