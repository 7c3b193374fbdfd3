"""The shop estate's population: its buckets, principals, networks and rhythms, and how
their requests become log lines. pipelines.synthetic.estate composes a day from them with
the incidents (pipelines.synthetic.incidents, which build on these actors too).

Detections are only as good as the benign traffic they are measured on. Random requesters
from random addresses make every finding look like noise and every noise look like a
finding; real estates are the opposite: a fixed population of principals, each with its
own few networks and rhythm (a service all day, analysts on weekdays, a nightly ETL, a
Sunday backup), a public website whose anonymous visitors come from everywhere, and AWS's
own services.

Records are built column-wise (numpy and Arrow compute) as in pipelines.synthetic.synth.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.synthetic.synth import fmt_int, pick, random_tokens

PROD, PARTNER = "111122223333", "444455556666"
OWNER = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be"
OFFICE = [f"203.0.113.{i}" for i in (10, 11, 12, 25, 40)]          # office NAT
OFFICE_V6 = ["2001:db8:4f1e::a1", "2001:db8:4f1e::a2"]
PAYMENTS_NAT = ["10.20.1.11", "10.20.1.12", "10.20.2.11"]           # VPC endpoint traffic
ETL_HOSTS = [f"10.30.1.{i}" for i in range(20, 28)]
BACKUP_HOSTS = ["10.30.9.5"]
PARTNER_NAT = ["198.51.100.10", "198.51.100.11"]
CLOUDFRONT = [f"130.176.{a}.{b}" for a in (12, 48, 137) for b in (3, 77, 140, 201)]
MONITOR = ["10.40.0.9"]
SDK = ("Boto3/1.35.2 md/Botocore#1.35.2 ua/2.0 os/linux#6.1.0 md/arch#x86_64 "
       "lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard Botocore/1.35.2")
JAVA = ("aws-sdk-java/2.28.1 Linux/6.1 OpenJDK_64-Bit_Server_VM/21.0.4+7-LTS Java/21.0.4 "
        "vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE io/sync http/Apache "
        "cfg/retry-mode/standard")
CLI = ("aws-cli/2.17.40 md/awscrt#0.21.2 ua/2.0 os/macos#23.6.0 md/arch#arm64 "
       "lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source "
       "md/prompt#off md/command#s3.cp")
BROWSERS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/130.0.0.0 Safari/537.36",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like "
            "Gecko) Version/18.0 Safari/605.1.15"]
BUSINESS = tuple(range(8, 19))
NIGHT = (1, 2, 3, 4)
WEEKDAYS = (0, 1, 2, 3, 4)


@dataclass(frozen=True)
class Actor:
    """A principal's habit on one bucket: who, from where, what, when and how much."""

    bucket: str
    requester: str                      # as logged: ARN, "AmazonS3", or "-" (anonymous)
    networks: tuple[str, ...]           # addresses it uses; () for AWS's internal traffic
    per_day: int                        # requests on an active day (about)
    ops: tuple[tuple[str, int], ...]    # operation weights
    prefix: str = "data/"
    hours: tuple[int, ...] = tuple(range(24))
    weekdays: tuple[int, ...] = tuple(range(7))
    size: tuple[float, float] = (10.0, 1.5)   # log-normal object size (mu, sigma), bytes
    user_agents: tuple[str, ...] = (SDK,)
    sessions: tuple[str, ...] = ()      # assumed-role session names, rotating
    rotating_pool: int = 0              # draw addresses from a pool this large instead
    errors: tuple[tuple[int, str, int], ...] = ((404, "NoSuchKey", 3),)  # per mille


@dataclass(frozen=True)
class Requests:
    """Columns of requests before rendering; any column may be a scalar."""

    bucket: object
    secs: np.ndarray
    requester: object
    remote_ip: object
    operation: object
    key: object
    status: object
    error: object
    bytes_sent: np.ndarray
    object_size: np.ndarray
    user_agent: object
    tls: object = "TLSv1.3"
    auth: object = "AuthHeader"

    def __len__(self) -> int:
        return len(self.secs)

    def take(self, rows: np.ndarray) -> Requests:
        """The requests at `rows` (indices); scalar columns stay scalars."""
        return Requests(**{f.name: _take(getattr(self, f.name), rows) for f in fields(self)})


def _take(column: object, rows: np.ndarray) -> object:
    """A column's values at `rows`: numpy or Arrow, or the scalar it is for every row."""
    if isinstance(column, np.ndarray):
        return column[rows]
    return column.take(pa.array(rows)) if isinstance(column, pa.Array) else column


def role(account: str, name: str) -> str:
    return f"arn:aws:sts::{account}:assumed-role/{name}"


READ = (("REST.GET.OBJECT", 80), ("REST.HEAD.OBJECT", 15), ("REST.GET.BUCKET", 5))
WRITE = (("REST.PUT.OBJECT", 85), ("REST.HEAD.OBJECT", 10), ("REST.GET.BUCKET", 5))
APP = (("REST.GET.OBJECT", 55), ("REST.PUT.OBJECT", 30), ("REST.HEAD.OBJECT", 15))

ACTORS: tuple[Actor, ...] = (
    # a public website: browsers from everywhere, and CloudFront in front of it
    Actor("shop-website", "-", (), 6000, (("WEBSITE.GET.OBJECT", 70),
                                          ("REST.GET.OBJECT", 30)), "assets/",
          size=(11.5, 1.6), user_agents=tuple(BROWSERS), rotating_pool=1 << 22,
          errors=((404, "NoSuchKey", 15), (403, "AccessDenied", 4))),
    Actor("shop-website", "arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity "
          "E2QWRUHAPOMQZL", tuple(CLOUDFRONT), 5000, (("REST.GET.OBJECT", 100),), "assets/",
          size=(10.0, 1.5), user_agents=("Amazon CloudFront",)),
    Actor("shop-website", role(PROD, "WebDeployRole"), (OFFICE[0],), 40, WRITE, "assets/",
          hours=BUSINESS, weekdays=WEEKDAYS, user_agents=(CLI,), sessions=("deploy",)),
    # payments: an application all day, a nightly ETL
    Actor("payments-prod", role(PROD, "PaymentsApp"), tuple(PAYMENTS_NAT), 4000, APP,
          "ledger/", size=(9.0, 1.0), user_agents=(JAVA,),
          sessions=("i-0a1b2c3d4e5f60718", "i-0b2c3d4e5f6071829")),
    Actor("payments-prod", role(PROD, "PaymentsETL"), (PAYMENTS_NAT[2],), 1500, READ,
          "ledger/", hours=NIGHT, size=(12.0, 1.0), sessions=("etl-nightly",)),
    # the data lake: ETL writes at night, analysts read on weekdays, a Sunday backup
    Actor("data-lake-raw", role(PROD, "DataPipelineRole"), tuple(ETL_HOSTS), 3000, WRITE,
          "raw/events/", hours=NIGHT, size=(14.0, 1.0), sessions=("glue-job-events",)),
    Actor("data-lake-raw", role(PROD, "AnalyticsRole"), tuple(OFFICE + OFFICE_V6), 1500,
          READ, "raw/events/", hours=BUSINESS, weekdays=WEEKDAYS, size=(16.5, 1.2),
          user_agents=(CLI, SDK), sessions=("alice@example.com", "bob@example.com",
                                            "carol@example.com"),
          errors=((404, "NoSuchKey", 5), (403, "AccessDenied", 6))),  # people mistype
    Actor("data-lake-raw", role(PROD, "BackupRole"), tuple(BACKUP_HOSTS), 2500, READ,
          "raw/events/", hours=(3, 4), weekdays=(6,), size=(16.0, 0.8),
          sessions=("weekly-backup",)),
    # a partner exchanges files every hour; an engineer looks in on weekdays
    Actor("partner-exchange", role(PARTNER, "PartnerSync"), tuple(PARTNER_NAT), 1200,
          (("REST.PUT.OBJECT", 50), ("REST.GET.OBJECT", 35), ("REST.GET.BUCKET", 15)),
          "inbound/", size=(11.0, 1.2), sessions=("sync",)),
    Actor("partner-exchange", f"arn:aws:iam::{PROD}:user/alice", (OFFICE[1],), 60, READ,
          "inbound/", hours=BUSINESS, weekdays=WEEKDAYS, user_agents=(CLI,)),
    # AWS's own traffic: lifecycle, and Config reading bucket settings
    *(Actor(b, "AmazonS3", (), 300, (("S3.EXPIRE.OBJECT", 70), ("S3.TRANSITION_SIA.OBJECT", 30)),
            p, hours=(0, 1)) for b, p in (("data-lake-raw", "raw/events/"),
                                          ("payments-prod", "ledger/"))),
    *(Actor(b, role(PROD, "AWSServiceRoleForConfig"), ("-",), 12,
            (("REST.GET.BUCKETPOLICY", 40), ("REST.GET.ACL", 30), ("REST.GET.LOCATION", 30)),
            user_agents=("AWSConfig",), sessions=("AWSConfig-Describe",))
      for b in ("shop-website", "payments-prod", "data-lake-raw", "partner-exchange")),
    # synthetic monitoring: a HEAD every few minutes on every bucket
    *(Actor(b, role(PROD, "MonitoringRole"), tuple(MONITOR), 288, (("REST.HEAD.OBJECT", 100),),
            "health/", sessions=("probe",)) for b in ("shop-website", "payments-prod",
                                                      "data-lake-raw", "partner-exchange")),
)
BUCKETS = tuple(dict.fromkeys(a.bucket for a in ACTORS))


def day_requests(rng: np.random.Generator, actor: Actor, day: date,
                 scale: float = 1.0) -> Requests | None:
    """One actor's requests of one day (None when it rests that day)."""
    if day.weekday() not in actor.weekdays:
        return None
    n = max(1, int(actor.per_day * scale * rng.uniform(0.8, 1.2)))
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    hours = np.array(actor.hours)[rng.integers(0, len(actor.hours), size=n)]
    secs = np.sort(start + hours * 3600 + rng.integers(0, 3600, size=n))
    ops = np.array([o for o, _ in actor.ops], dtype=object)[_choice(rng, actor.ops, n)]
    return _shape(rng, actor, secs, ops)


def _choice(rng: np.random.Generator, weighted, n: int) -> np.ndarray:
    w = np.array([x[-1] for x in weighted], dtype=float)
    return rng.choice(len(w), size=n, p=w / w.sum())


def _shape(rng: np.random.Generator, actor: Actor, secs: np.ndarray,
           ops: np.ndarray) -> Requests:
    n = len(secs)
    requester: object = actor.requester
    if actor.sessions:
        requester = pick([f"{actor.requester}/{s}" for s in actor.sessions],
                          rng.integers(0, len(actor.sessions), size=n))
    if actor.rotating_pool:
        ip = addresses(rng.zipf(1.2, size=n) % actor.rotating_pool, seed=len(actor.bucket))
    elif actor.networks:
        ip = pick(list(actor.networks), rng.integers(0, len(actor.networks), size=n))
    else:
        ip = "-"
    key_n = rng.zipf(1.25, size=n) % 20_000
    keys = pc.binary_join_element_wise(actor.prefix, fmt_int(key_n), ".bin", "")
    bucket_level = np.isin(ops, ["REST.GET.BUCKET", "REST.GET.BUCKETPOLICY", "REST.GET.ACL",
                                 "REST.GET.LOCATION"])
    keys = pc.if_else(pa.array(bucket_level), "-", keys)
    size = np.exp(rng.normal(*actor.size, size=n)).astype(np.int64) + 100
    status = np.full(n, 200)
    error = np.full(n, "-", dtype=object)
    draw = rng.integers(0, 1000, size=n)
    floor = 0
    for code, name, per_mille in actor.errors:
        hit = (draw >= floor) & (draw < floor + per_mille) & ~bucket_level
        status[hit], error[hit] = code, name
        floor += per_mille
    reads = np.isin(ops, ["REST.GET.OBJECT", "WEBSITE.GET.OBJECT"]) & (status == 200)
    sent = np.where(reads, size, np.where(status >= 400, 243, 0))
    sent = np.where(bucket_level, rng.integers(400, 4000, size=n), sent)
    lifecycle = np.char.startswith(ops.astype(str), "S3.")
    ua = pick(list(actor.user_agents), rng.integers(0, len(actor.user_agents), size=n))
    website = np.char.startswith(ops.astype(str), "WEBSITE.")
    return Requests(actor.bucket, secs, requester, ip, pa.array(ops.tolist(), pa.string()),
                    keys, pa.array(np.where(lifecycle, 0, status)), pa.array(error.tolist()),
                    sent, np.where(bucket_level, 0, size),
                    pc.if_else(pa.array(lifecycle), "-", ua),
                    tls=pc.if_else(pa.array(website | lifecycle), "-", "TLSv1.3"),
                    auth=pc.if_else(pa.array(lifecycle | (actor.requester == "-")), "-",
                                    "AuthHeader"))


def addresses(ids: np.ndarray, seed: int) -> pa.Array:
    """Stable public IPv4 addresses for integer ids (a large pool of visitors)."""
    mixed = (ids.astype(np.uint64) * np.uint64(2654435761) + np.uint64(seed)) & np.uint64(
        0xFFFFFFFF)
    first = np.array([24, 37, 45, 62, 73, 81, 92, 109, 151, 176, 188, 212])[mixed % 12]
    parts = [first, (mixed >> 8) & 255, (mixed >> 16) & 255, ((mixed >> 24) % 253) + 1]
    return pc.binary_join_element_wise(*[fmt_int(p.astype(np.int64)) for p in parts], ".")


@dataclass(frozen=True)
class Draws:
    """The random columns of rendered requests, drawn apart from the formatting so that a
    bucket's lines can be formatted a piece at a time, in time order, after every part's
    numbers were drawn in the order they always were."""

    total_ms: np.ndarray
    request_ids: pa.Array
    host_ids: pa.Array

    def take(self, rows: np.ndarray) -> Draws:
        return Draws(self.total_ms[rows], _take(self.request_ids, rows),
                     _take(self.host_ids, rows))


def draw(rng: np.random.Generator, r: Requests) -> Draws:
    """The random columns of the requests' lines (request time, request and host ids)."""
    n = len(r)
    total = (np.exp(rng.normal(2.5, 0.8, size=n)) + r.bytes_sent / 5e6).astype(np.int64) + 1
    request_ids = random_tokens(rng, n, 16, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    host_ids = random_tokens(rng, n, 56, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                          b"0123456789+/")
    return Draws(total, request_ids, host_ids)


def render(rng: np.random.Generator, r: Requests) -> tuple[pa.Array, np.ndarray]:
    """The log lines (27 fields) of the requests, and their epoch seconds."""
    return format_lines(r, draw(rng, r)), r.secs


def format_lines(r: Requests, drawn: Draws) -> pa.Array:
    """The log lines (27 fields) of the requests, with their random columns `drawn`."""
    n = len(r)
    time_str = pc.strftime(pa.array(r.secs.astype("datetime64[s]")),
                           format="[%d/%b/%Y:%H:%M:%S +0000]")
    ops = pa.array([r.operation] * n) if isinstance(r.operation, str) else r.operation
    method = pc.utf8_upper(pc.list_element(pc.split_pattern(ops, "."), 1))
    lifecycle = pc.starts_with(ops, "S3.")
    key = pa.array([r.key] * n) if isinstance(r.key, str) else r.key
    path = pc.if_else(pc.equal(key, "-"), pc.binary_join_element_wise("/", r.bucket, "", ""),
                      pc.binary_join_element_wise("/", r.bucket, "/", key, ""))
    uri = pc.if_else(lifecycle, "-", pc.binary_join_element_wise(
        '"', method, " ", path, ' HTTP/1.1"', ""))
    status = pc.cast(r.status if isinstance(r.status, pa.Array) else
                     pa.array(np.full(n, r.status)), pa.string())
    status = pc.if_else(pc.equal(status, "0"), "-", status)

    def num(v: np.ndarray) -> pa.Array:
        return pc.if_else(pa.array(v == 0), "-", fmt_int(v))

    total = drawn.total_ms
    tls = r.tls
    quoted_ua = pc.binary_join_element_wise('"', r.user_agent, '"', "")
    cols = [OWNER, r.bucket, time_str, r.remote_ip, r.requester, drawn.request_ids, ops, key,
            uri, status, r.error, num(r.bytes_sent), num(r.object_size),
            pc.if_else(lifecycle, "-", fmt_int(total)),
            pc.if_else(lifecycle, "-", fmt_int(np.maximum(total // 3, 1))), '"-"',
            pc.if_else(lifecycle, "-", quoted_ua), "-",
            drawn.host_ids,
            pc.if_else(pc.equal(r.auth, "-") if isinstance(r.auth, pa.Array) else
                       pa.array(np.full(n, r.auth == "-")), "-", "SigV4"),
            pc.if_else(pc.equal(tls, "-") if isinstance(tls, pa.Array) else
                       pa.array(np.full(n, tls == "-")), "-", "TLS_AES_128_GCM_SHA256"),
            r.auth, pc.binary_join_element_wise(r.bucket, ".s3.us-east-1.amazonaws.com", ""),
            tls, "-", "-", "-"]
    # constant columns stay scalars: the join broadcasts them, no n copies of a string
    return pc.binary_join_element_wise(*cols, " ")
