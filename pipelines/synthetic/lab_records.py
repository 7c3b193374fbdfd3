"""One request of the research institute's estate as S3 logs it (Rec) and its log line,
the fields every record draws (request ids, host ids, times in flight), and the query
texts the actors share.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from pipelines.synthetic.lab_population import ACCOUNT, OWNER, REGION, TLS13


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


def request_ids(rng: np.random.Generator, n: int) -> list[str]:
    """n request ids as S3 writes them: each record's (`finish`), and the one that all
    the records of a multi-object delete share (pipelines.synthetic.lab_imaging)."""
    return [f"{x:016X}" for x in rng.integers(0, 1 << 62, size=n, dtype=np.int64).tolist()]


def _host_ids(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, 57), dtype=np.uint8)
    return [base64.b64encode(row.tobytes()).decode() for row in raw]


def _ms(rng: np.random.Generator, sent: int) -> int:
    return int(rng.lognormal(3.0, 0.7)) + sent // 6_000_000 + 1


def finish(rng: np.random.Generator, recs: list[Rec]) -> list[Rec]:
    """Request ids, host ids and times in flight, drawn by the actor's own generator:
    what pipelines.synthetic.estate_lab adds to every actor's and incident's records."""
    ids, hosts = request_ids(rng, len(recs)), _host_ids(rng, len(recs))
    for r, i, h in zip(recs, ids, hosts):
        if not r.rid:
            r.rid = i
        r.host_id = h
        if not r.total_ms:
            r.total_ms = _ms(rng, r.sent)
    return recs


def url_encode(text: str) -> str:
    """URL-encode a query value or key as S3 logs it (slashes kept in keys by the caller):
    the listings' prefixes here, the presigned URLs' tokens (pipelines.synthetic.lab_imaging)."""
    safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~"
    return "".join(c if c in safe else f"%{ord(c):02X}" for c in text)


def list_query(prefix: str, v2: bool = True) -> str:
    """The query of a listing of `prefix` (ListObjectsV2, or V1): every actor that lists
    a bucket asks it so."""
    q = f"?list-type=2&prefix={url_encode(prefix)}&delimiter=%2F" if v2 else \
        f"?prefix={url_encode(prefix)}&max-keys=1000"
    return q
