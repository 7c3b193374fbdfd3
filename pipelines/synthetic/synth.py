"""Seeded generator of realistic S3 server access log objects.

Used by the demo, the tests and the benchmarks, so it has to be both realistic (operation
mix, errors, requester kinds, every field-count generation, the irregular lines real logs
contain, late and duplicated deliveries, both key layouts) and fast: records are built
column-wise with numpy and Arrow compute, never line by line, so a gigabyte takes seconds.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"

# (operation, weight, HTTP method, target kind: "object" | "bucket" | "none")
OPERATIONS = [
    ("REST.GET.OBJECT", 420, "GET", "object"),
    ("REST.HEAD.OBJECT", 140, "HEAD", "object"),
    ("REST.PUT.OBJECT", 110, "PUT", "object"),
    ("REST.GET.BUCKET", 60, "GET", "bucket"),
    ("REST.DELETE.OBJECT", 25, "DELETE", "object"),
    ("REST.POST.MULTI_OBJECT_DELETE", 4, "POST", "bucket"),
    ("BATCH.DELETE.OBJECT", 20, None, "object"),
    ("REST.COPY.OBJECT", 12, "PUT", "object"),
    ("REST.COPY.OBJECT_GET", 12, None, "object"),
    ("REST.POST.UPLOADS", 6, "POST", "object"),
    ("REST.PUT.PART", 30, "PUT", "object"),
    ("REST.GET.ACL", 8, "GET", "bucket"),
    ("REST.GET.BUCKETPOLICY", 5, "GET", "bucket"),
    ("REST.GET.LOCATION", 10, "GET", "bucket"),
    ("REST.OPTIONS.PREFLIGHT", 6, "OPTIONS", "object"),
    ("WEBSITE.GET.OBJECT", 30, "GET", "object"),
    ("S3.COMPUTE.OBJECT.CHECKSUM", 3, None, "object"),
    ("S3.EXPIRE.OBJECT", 25, None, "object"),
    ("S3.TRANSITION_SIA.OBJECT", 8, None, "object"),
    ("S3.CREATE.DELETEMARKER", 3, None, "object"),
]
LIFECYCLE = {"S3.EXPIRE.OBJECT", "S3.TRANSITION_SIA.OBJECT", "S3.CREATE.DELETEMARKER",
             "S3.COMPUTE.OBJECT.CHECKSUM"}

REQUESTERS = [  # (requester, weight, kind)
    (f"arn:aws:iam::{ACCOUNT}:user/alice", 120, "iam"),
    (f"arn:aws:iam::{ACCOUNT}:user/deploy-bot", 80, "iam"),
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/DataPipelineRole/i-0abc123def456", 200, "iam"),
    (f"arn:aws:sts::{ACCOUNT}:assumed-role/AnalyticsRole/bob@example.com", 120, "iam"),
    (f"arn:aws:sts::{OTHER_ACCOUNT}:assumed-role/PartnerReadRole/partner", 40, "iam"),
    ("79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be", 30, "iam"),
    ("svc:delivery.logs.amazonaws.com", 20, "iam"),
    ("-", 160, "anon"),
    ("arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity E1ABCDEF2GHIJK", 15,
     "iam"),
]
USER_AGENTS = [
    ("aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 exe/x86_64.amzn.2023 prompt/off "
     "command/s3.cp", 120),
    ("Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#6.1.0 md/arch#x86_64 lang/python#3.11.8"
     " md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69", 200),
    ("aws-sdk-java/2.25.10 Linux/5.10 OpenJDK_64-Bit_Server_VM/17.0.10+7-LTS Java/17.0.10 "
     "vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/legacy",
     100),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0.0.0 Safari/537.36", 150),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1", 60),
    ("S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10.219-186.866.amzn2int."
     "x86_64 OpenJDK_64-Bit_Server_VM/25.372-b08 java/1.8.0_372 vendor/Oracle_Corporation "
     "cfg/retry-mode/standard", 20),
    ("curl/8.5.0", 25),
    ("python-requests/2.31.0", 15),
    ("[aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10 OpenJDK_64-Bit_Server_VM/25.372-b08 "
     "java/1.8.0_372 vendor/Oracle_Corporation cfg/retry-mode/standard]", 10),
    ("sqlmap/1.7.2#stable (https://sqlmap.org)", 2),
    ("Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:Port Check)", 2),
    ("-", 15),
]
KEY_PREFIXES = ["images/2026/", "static/js/", "data/raw/events/", "exports/reports/",
                "backups/db/", "logs/app/", "uploads/user-", "videos/"]
KEY_SUFFIXES = [".jpg", ".js", ".json.gz", ".csv", ".tar.zst", ".log", ".png", ".mp4"]
REFERERS = [("-", 900), ("https://www.example.com/", 60), ("https://app.example.com/dash", 30),
            ("https://www.example.com/search?q=annual report 2026", 10)]
CIPHERS = [("ECDHE-RSA-AES128-GCM-SHA256", 600), ("TLS_AES_128_GCM_SHA256", 300),
           ("TLS_AES_256_GCM_SHA384", 80), ("ECDHE-RSA-AES128-SHA", 20)]
REGIONS = ["us-east-1", "us-east-1", "us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2"]
ERRORS_GET = [("200", "-", 900), ("206", "-", 20), ("304", "-", 20), ("404", "NoSuchKey", 35),
              ("403", "AccessDenied", 20), ("500", "InternalError", 2), ("503", "SlowDown", 3)]
FIELD_COUNT_MIX = [(18, 2), (24, 3), (25, 5), (26, 35), (27, 50), (28, 4), (30, 1)]
"""Mixed generations in one corpus, as real target buckets have during rollouts."""


@dataclass(frozen=True)
class Profile:
    """What fraction of lines takes each irregular form real logs contain."""

    quote_in_user_agent: float = 0.0005
    quote_in_request_uri: float = 0.0002
    invalid_utf8: float = 0.0002
    garbage: float = 0.0001           # not a log line at all: must be quarantined
    ipv6: float = 0.05
    huge_objects: float = 0.01        # object sizes beyond 2^32
    field_counts: tuple = tuple(FIELD_COUNT_MIX)


def _weighted(rng: np.random.Generator, weights: list[int], n: int) -> np.ndarray:
    w = np.array(weights, dtype=float)
    return rng.choice(len(w), size=n, p=w / w.sum())


def pick(values: list[str], idx: np.ndarray) -> pa.Array:
    return pc.take(pa.array(values, pa.string()), pa.array(idx))


TOKEN_ROWS = 1 << 16
"""Rows of random tokens drawn at a time: bounds the int64 temporary of the draw."""


def random_tokens(rng: np.random.Generator, n: int, width: int, alphabet: bytes) -> pa.Array:
    """`n` random strings of `width` characters of `alphabet`, as one contiguous array.

    Built from its buffers because pa.array over a numpy bytes array returns a ChunkedArray
    once the data passes 2^24 bytes, which pa.concat_arrays refuses (the estate failed above
    scale ~41). Drawn TOKEN_ROWS rows at a time: the generator yields the same numbers as in
    one draw, without an n x width int64 temporary."""
    symbols = np.frombuffer(alphabet, np.uint8)
    codes = np.empty((n, width), np.uint8)
    for lo in range(0, n, TOKEN_ROWS):
        rows = min(TOKEN_ROWS, n - lo)
        codes[lo:lo + rows] = symbols[rng.integers(0, len(alphabet), size=(rows, width))]
    return _fixed_width_strings(codes)


STRING_BYTES = 2**31 - 1
"""The most characters a string array holds: its offsets are 32-bit."""


def _fixed_width_strings(codes: np.ndarray) -> pa.Array:
    """The rows of a 2-D uint8 array as strings, without copying; a ChunkedArray only past
    the STRING_BYTES a string array's offsets can address."""
    n, width = codes.shape
    if n * width > STRING_BYTES:
        half = n // 2
        return pa.chunked_array([*_chunks(_fixed_width_strings(codes[:half])),
                                 *_chunks(_fixed_width_strings(codes[half:]))])
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                  pa.py_buffer(codes)])


def _chunks(values: pa.Array | pa.ChunkedArray) -> list[pa.Array]:
    return values.chunks if isinstance(values, pa.ChunkedArray) else [values]


def fmt_int(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _ipv4(rng: np.random.Generator, n: int) -> pa.Array:
    pool = rng.integers(1, 255, size=(400, 4))
    pool[:, 0] = rng.choice([3, 18, 34, 52, 81, 89, 104, 185, 203], size=400)
    strs = [".".join(map(str, row)) for row in pool]
    # a few hot IPs carry most traffic, as in real logs
    idx = np.minimum(rng.zipf(1.6, size=n) - 1, len(strs) - 1)
    return pick(strs, idx)


def synth_lines(rng: np.random.Generator, n: int, *, bucket: str, start: datetime,
                seconds: int, profile: Profile = Profile()) -> tuple[pa.Array, np.ndarray]:
    """`n` rendered log lines (no newline) for `bucket` with event times in
    [start, start + seconds), sorted by time, and their epoch seconds."""
    t0 = int(start.timestamp())
    secs = np.sort(rng.integers(t0, t0 + seconds, size=n))
    time_str = pc.strftime(pa.array(secs.astype("datetime64[s]")),
                           format="[%d/%b/%Y:%H:%M:%S +0000]")

    op_i = _weighted(rng, [o[1] for o in OPERATIONS], n)
    ops = pick([o[0] for o in OPERATIONS], op_i)
    is_lifecycle = pc.is_in(ops, pa.array(sorted(LIFECYCLE)))
    method_of = np.array([o[2] or "" for o in OPERATIONS], dtype=object)[op_i]
    kind_of = np.array([o[3] for o in OPERATIONS], dtype=object)[op_i]
    no_uri = np.array([o[2] is None for o in OPERATIONS])[op_i]

    req_i = _weighted(rng, [r[1] for r in REQUESTERS], n)
    requester = pick([r[0] for r in REQUESTERS], req_i)
    anon = np.array([r[2] == "anon" for r in REQUESTERS])[req_i]
    requester = pc.if_else(is_lifecycle, "AmazonS3", requester)
    anon = anon & ~is_lifecycle.to_numpy(zero_copy_only=False)

    key_n = rng.zipf(1.3, size=n) % 5000
    key = pc.binary_join_element_wise(
        pick(KEY_PREFIXES, key_n % len(KEY_PREFIXES)), fmt_int(key_n),
        pick(["%20final", "", "+copy", ""], key_n % 4),
        pick(KEY_SUFFIXES, (key_n // 7) % len(KEY_SUFFIXES)), "")
    key = pc.if_else(pa.array(kind_of == "bucket"), "-", key)
    query = pick(["", "", "", "?versionId=3HL4kqtJlcpXroDTDmJ", "?partNumber=1&uploadId=x"],
                  rng.integers(0, 5, size=n))
    path = pc.if_else(pa.array(kind_of == "bucket"),
                      pc.binary_join_element_wise("/", pa.scalar(bucket), "?list-type=2", ""),
                      pc.binary_join_element_wise("/", pa.scalar(bucket), "/", key, query, ""))
    uri = pc.binary_join_element_wise('"', pa.array(method_of.tolist()), " ", path,
                                      " HTTP/1.1\"", "")
    uri = pc.if_else(pa.array(no_uri), "-", uri)
    uri = pc.if_else(is_lifecycle, '"-"', uri)

    st_i = _weighted(rng, [e[2] for e in ERRORS_GET], n)
    status = pick([e[0] for e in ERRORS_GET], st_i)
    error = pick([e[1] for e in ERRORS_GET], st_i)
    writes = pa.array(np.isin(method_of, ["PUT", "POST", "DELETE"]))
    status = pc.if_else(writes, pick(["200", "204"], (method_of == "DELETE").astype(int)),
                        status)
    error = pc.if_else(writes, "-", error)
    denied_anon = pa.array(anon & (rng.random(n) < 0.3))
    status = pc.if_else(denied_anon, "403", status)
    error = pc.if_else(denied_anon, "AccessDenied", error)
    status = pc.if_else(is_lifecycle, "-", status)
    error = pc.if_else(is_lifecycle, "-", error)

    size = np.exp(rng.normal(10.5, 2.5, size=n)).astype(np.int64) + 1
    huge = rng.random(n) < profile.huge_objects
    size[huge] = rng.integers(2**32, 2**38, size=int(huge.sum()))
    ok_get = pc.and_(pc.equal(status, "200"), pa.array(method_of == "GET")).to_numpy(
        zero_copy_only=False)
    sent = np.where(ok_get, size, 0)
    sent = np.where(pc.equal(status, "206").to_numpy(zero_copy_only=False), size // 3, sent)
    err_body = pc.not_equal(error, "-").to_numpy(zero_copy_only=False)
    sent = np.where(err_body & ~ok_get, rng.integers(200, 400, size=n), sent)
    bytes_sent = pc.if_else(pa.array(sent == 0), "-", fmt_int(sent))
    object_size = pc.if_else(pa.array(kind_of == "bucket"), "-", fmt_int(size))
    tat = np.exp(rng.normal(2.5, 1.0, size=n)).astype(np.int64)
    total = tat + (sent // 2_000_000) + rng.integers(0, 20, size=n)
    total_s = pc.if_else(is_lifecycle, "-", fmt_int(total))
    tat_s = pc.if_else(is_lifecycle, "-", fmt_int(tat))

    ref_i = _weighted(rng, [r[1] for r in REFERERS], n)
    ua_i = _weighted(rng, [u[1] for u in USER_AGENTS], n)
    ref = pc.binary_join_element_wise('"', pick([r[0] for r in REFERERS], ref_i), '"', "")
    ua = pc.binary_join_element_wise('"', pick([u[0] for u in USER_AGENTS], ua_i), '"', "")
    bare = pa.array(no_uri & ~is_lifecycle.to_numpy(zero_copy_only=False))
    ref, ua = pc.if_else(bare, "-", ref), pc.if_else(bare, "-", ua)

    ip = _ipv4(rng, n)
    v6 = pa.array(rng.random(n) < profile.ipv6)
    ip = pc.if_else(v6, pc.binary_join_element_wise(
        "2001:db8:85a3::", fmt_int(rng.integers(1, 9999, size=n)), ""), ip)
    ip = pc.if_else(is_lifecycle, "-", ip)

    version = pc.if_else(is_lifecycle, random_tokens(rng, n, 32, b"abcdefghijkLMNOPQ0123456789"),
                         "-")
    host_id = random_tokens(rng, n, 76, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                         b"0123456789+/")
    sigv = pc.if_else(pa.array(anon), "-", pick(["SigV4", "SigV2"],
                                                 (rng.random(n) < 0.02).astype(int)))
    cipher = pick([c[0] for c in CIPHERS], _weighted(rng, [c[1] for c in CIPHERS], n))
    tls = pick(["TLSv1.2", "TLSv1.3", "TLSv1.1"], np.where(rng.random(n) < 0.3, 1, 0) +
                (rng.random(n) < 0.01))
    plain_http = pa.array(rng.random(n) < 0.01)
    cipher, tls = pc.if_else(plain_http, "-", cipher), pc.if_else(plain_http, "-", tls)
    auth = pc.if_else(pa.array(anon), "-", pick(["AuthHeader", "QueryString"],
                                                 (rng.random(n) < 0.05).astype(int)))
    host = pick([f"{bucket}.s3.us-east-1.amazonaws.com", "s3.amazonaws.com",
                  "s3.us-east-1.amazonaws.com"], rng.integers(0, 3, size=n))
    ap = pc.if_else(pa.array(rng.random(n) < 0.02),
                    f"arn:aws:s3:us-east-1:{ACCOUNT}:accesspoint/analytics-ap", "-")
    acl = pc.if_else(pa.array(rng.random(n) < 0.02), "Yes", "-")
    region = pick(REGIONS, rng.integers(0, len(REGIONS), size=n))
    sigv, cipher, auth, tls, ap, host = (pc.if_else(is_lifecycle, "-", x)
                                         for x in (sigv, cipher, auth, tls, ap, host))
    extra1 = pick(["-", "x-new-field"], (rng.random(n) < 0.5).astype(int))

    owner = pa.scalar("a" * 8 + "1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e")
    columns = [owner, pa.scalar(bucket), time_str, ip, requester,
               random_tokens(rng, n, 16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), ops, key, uri,
               status, error, bytes_sent, object_size, total_s, tat_s, ref, ua, version, host_id,
               sigv, cipher, auth, host, tls, ap, acl, region, extra1, extra1, extra1]
    counts = np.array([c[0] for c in profile.field_counts])[_weighted(
        rng, [c[1] for c in profile.field_counts], n)]
    lines = pa.nulls(n, pa.string())
    for k in np.unique(counts):
        joined = pc.binary_join_element_wise(*columns[:k], " ")
        lines = pc.if_else(pa.array(counts == k), joined, lines)
    return _irregular(rng, lines, profile), secs


def _irregular(rng: np.random.Generator, lines: pa.Array, profile: Profile) -> pa.Array:
    """Plant the rare line forms real logs contain (unescaped quotes, bad bytes, junk)."""
    n = len(lines)

    def mask(p: float) -> pa.Array:
        return pa.array(rng.random(n) < p)

    lines = pc.if_else(mask(profile.quote_in_user_agent),
                       pc.replace_substring_regex(lines, r'(Safari/[0-9.]+)"', r'\1""'), lines)
    lines = pc.if_else(mask(profile.quote_in_request_uri),
                       pc.replace_substring_regex(lines, r'"GET /', '"GET /" ', max_replacements=1),
                       lines)
    lines = pc.if_else(mask(profile.garbage), "<html><body>502 Bad Gateway</body></html>", lines)
    bad = mask(profile.invalid_utf8)
    as_bin = pc.cast(lines, pa.binary())
    as_bin = pc.if_else(bad, pc.replace_substring(as_bin, b"curl/", b"curl\xff\xfe/"), as_bin)
    return as_bin


@dataclass(frozen=True)
class SynthConfig:
    """A target bucket's worth of generated logs."""

    start: date = date(2026, 11, 16)
    days: int = 7
    buckets: tuple[str, ...] = ("shop-assets", "data-lake-raw", "partner-exchange")
    records_per_day: int = 3000          # per source bucket
    records_per_object: int = 60         # AWS delivers many small objects
    layout: str = "simple"               # "simple" | "partitioned"
    partition_date_source: str = "EventTime"
    prefix: str = "logs/"
    region: str = "us-east-1"
    late_fraction: float = 0.03          # objects delivered one to three days late
    duplicate_fraction: float = 0.01     # objects S3 delivered twice
    gzip_fraction: float = 0.0
    seed: int = 7
    profile: Profile = field(default_factory=Profile)


def object_key(cfg: SynthConfig, bucket: str, event_day: date, delivered: datetime,
               unique: str) -> str:
    """The key AWS would give the object, for the configured layout."""
    stamp = delivered.strftime("%Y-%m-%d-%H-%M-%S")
    if cfg.layout == "simple":
        return f"{cfg.prefix}{stamp}-{unique}"
    day = event_day if cfg.partition_date_source == "EventTime" else delivered.date()
    if cfg.partition_date_source == "EventTime":
        stamp = f"{day:%Y-%m-%d}-00-00-00"
    return f"{cfg.prefix}{ACCOUNT}/{cfg.region}/{bucket}/{day:%Y/%m/%d}/{stamp}-{unique}"


def generate_objects(cfg: SynthConfig) -> Iterator[tuple[str, bytes]]:
    """(key, content) for every log object of the configured days and buckets."""
    rng = np.random.default_rng(cfg.seed)
    for b, bucket in enumerate(cfg.buckets):
        for d in range(cfg.days):
            day = cfg.start + timedelta(days=d)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            n = max(1, int(cfg.records_per_day * (0.6 + 0.8 * rng.random()) / (1 + b)))
            lines, secs = synth_lines(rng, n, bucket=bucket, start=start, seconds=86400,
                                      profile=cfg.profile)
            for lo in range(0, n, cfg.records_per_object):
                chunk = lines[lo:lo + cfg.records_per_object]
                last = int(secs[min(lo + cfg.records_per_object, n) - 1])
                delay = int(rng.integers(300, 5400))
                if rng.random() < cfg.late_fraction:
                    delay += int(rng.integers(1, 4)) * 86400
                delivered = datetime.fromtimestamp(last + delay, tz=UTC)
                body = b"\n".join(v.as_py() for v in chunk) + b"\n"
                if rng.random() < cfg.gzip_fraction:
                    body = gzip.compress(body, mtime=0)
                copies = 2 if rng.random() < cfg.duplicate_fraction else 1
                for _ in range(copies):
                    unique = rng.bytes(8).hex().upper()
                    yield object_key(cfg, bucket, day, delivered, unique), body


def write_objects(cfg: SynthConfig, root: str | os.PathLike) -> list[str]:
    """Write the generated objects under a local folder; returns the keys written."""
    return write_keyed(generate_objects(cfg), root)


def write_keyed(objects: Iterator[tuple[str, bytes]], root: str | os.PathLike) -> list[str]:
    """Write (key, content) pairs under a local folder; returns the keys written."""
    keys = []
    for key, body in objects:
        path = Path(root, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        keys.append(key)
    return keys


def write_big_file(path: str | os.PathLike, size_bytes: int, seed: int = 1,
                   profile: Profile = Profile()) -> int:
    """One large log file of about `size_bytes` (benchmarks); returns the line count."""
    rng = np.random.default_rng(seed)
    written = lines_total = 0
    day = datetime(2026, 11, 1, tzinfo=UTC)
    with open(path, "wb") as out:
        while written < size_bytes:
            lines, _ = synth_lines(rng, 100_000, bucket="bench-bucket", start=day,
                                   seconds=86400, profile=profile)
            body = pc.binary_join(pa.array([lines], pa.list_(pa.binary())), b"\n")[0].as_py()
            out.write(body + b"\n")
            written += len(body) + 1
            lines_total += len(lines)
            day += timedelta(days=1)
    return lines_total
