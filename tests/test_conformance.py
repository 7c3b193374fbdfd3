"""Conformance: our parser against what other projects expect from the same S3 log lines.

The corpus (`../shared/corpus/`, described in its SOURCES.md) holds S3 server access log
lines shipped by other public projects in their own tests, and, where they have them, what
those projects expect their parser to extract: Elastic (Beats module and integrations
package, ECS fields), OpenTelemetry Collector contrib (pdata YAML attributes) and Logstash
grok patterns (legacy and ecs-v1 field names, transcribed from RSpec). The files are read
in place, never copied into this repository. When the folder is absent the module is
skipped with a reason naming it, except in CI (the CI environment variable set), where that
fails.

For every expectation record the test maps THEIR field names onto OUR columns and asserts,
field by field:

* every field present in their record equals ours (after converting only their
  *representation*: ISO or HTTPDATE text to a UTC instant, OTel "intValue" text to int...);
* fields they compute from a log field (ECS `event.duration` in ns, `url.path`, the parts of
  the request line, `tls.version`...) equal the same computation on our column;
* where they omit every `-` field (Elastic, OTel, and Logstash ecs-v1 "exact" sub-hashes),
  a mapped field absent from their record must be null in ours;
* every key of their record is either compared or listed in the dialect's `ignored` table
  with the reason (enrichment such as GeoIP, constants, their own metadata); an unknown key
  fails the test, so a new field in their expectation cannot be silently skipped.

Any other difference fails unless it is listed in `JUSTIFIED` below, a table of narrow,
commented exceptions (each an exact pattern of their value vs ours). A separate test checks
that every entry of that table is still needed, so the table cannot go stale.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml  # PyYAML (declared: pipelines/security/policy.py uses it), for the OTel expectations

from pipelines.parsing.logformat import RECORD_SCHEMA
from pipelines.parsing.parse import ParseResult, parse_log
from pipelines.parsing.parse_line import LineRejected, parse_line


def _in_ci() -> bool:
    """CI services set the CI environment variable (GitHub Actions, GitLab CI, Buildkite...)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _corpus() -> Path:
    """The corpus folder; a loud skip when it is absent locally, a failure in CI."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
    if path.is_dir():
        return path
    why = (f"conformance corpus not found at {path}: place the shared corpus folder "
           f"(../shared/corpus, with its SOURCES.md) beside this checkout to run the "
           f"conformance tests")
    if _in_ci():
        pytest.fail(f"{why} (CI is set: the corpus is required in CI)", pytrace=False)
    pytest.skip(f"every conformance test skipped: {why}", allow_module_level=True)


CORPUS = _corpus()

BEATS_LOG = "elastic__beats__s3_server_access.log"
INTEGRATIONS_LOG = "elastic__integrations__test-s3-server-access.log"
LOGSTASH_LOG = "logstash-plugins__logstash-patterns-core__aws_spec-S3_ACCESS_LOG.log"
OTEL = "open-telemetry__opentelemetry-collector-contrib__"
OTEL_CASES = ("valid_s3_access_log", "unknown_request_uri", "too_many_values")
TOO_FEW_LOG = f"{OTEL}too_few_values.log"
REJECTED_LOGS = {TOO_FEW_LOG: 1}  # log -> lines that must be rejects (OTel expects an error)


class _Absent:
    """Their record has no such field (they drop `-` values)."""

    def __repr__(self) -> str:
        return "<absent>"


ABSENT = _Absent()


# --------------------------------------------------------------------------------------------
# Our side: parse each corpus log once.
# --------------------------------------------------------------------------------------------

@cache
def parsed(log: str) -> ParseResult:
    return parse_log((CORPUS / log).read_bytes(), log)


@cache
def raw_lines(log: str) -> tuple[bytes, ...]:
    """The file's lines without their newline; index i is line i + 1."""
    data = (CORPUS / log).read_bytes()
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    return tuple(lines)


@cache
def records_by_line(log: str) -> dict[int, dict]:
    return {r["line_number"]: r for r in parsed(log).records.to_pylist()}


def our_record(log: str, line: int) -> dict:
    rec = records_by_line(log).get(line)
    assert rec is not None, (f"{log} line {line} is not a record; rejects: "
                             f"{parsed(log).rejects.to_pylist()}")
    return rec


# --------------------------------------------------------------------------------------------
# Values other projects compute from a log field, computed the same way from our columns.
# ABSENT when our column is null (then a value on their side is a reported mismatch).
# --------------------------------------------------------------------------------------------

def _request_part(i: int) -> Callable[[dict], object]:
    """Part i of the Request-URI `METHOD target PROTOCOL/version`."""
    def get(r: dict) -> object:
        parts = (r["request_uri"] or "").split(" ")
        return parts[i] if r["request_uri"] is not None and len(parts) == 3 else ABSENT
    return get


_method, _target, _protocol = _request_part(0), _request_part(1), _request_part(2)


def _http_version(r: dict) -> object:
    p = _protocol(r)
    return p.partition("/")[2] if isinstance(p, str) else ABSENT


def _protocol_name(r: dict) -> object:
    p = _protocol(r)
    return p.partition("/")[0].lower() if isinstance(p, str) else ABSENT


def _url_path(r: dict) -> object:
    t = _target(r)
    return t.partition("?")[0] if isinstance(t, str) else ABSENT


def _url_path_decoded(r: dict) -> object:  # Go's url.ParseRequestURI(...).Path is decoded
    p = _url_path(r)
    return unquote(p) if isinstance(p, str) else ABSENT


def _url_query(r: dict) -> object:
    t = _target(r)
    if not isinstance(t, str) or "?" not in t:
        return ABSENT
    return t.partition("?")[2]


def _url_extension(r: dict) -> object:
    p = _url_path(r)
    if not isinstance(p, str):
        return ABSENT
    name = p.rpartition("/")[2]
    return name.rpartition(".")[2] if "." in name else ABSENT


def _tls_split(i: int) -> Callable[[dict], object]:
    """Elastic's painless: tls_version.toLowerCase().splitOnToken("v") -> [protocol, version]."""
    def get(r: dict) -> object:
        v = r["tls_version"]
        parts = v.lower().split("v") if v is not None else []
        return parts[i] if len(parts) == 2 else ABSENT
    return get


def _copy(column: str) -> Callable[[dict], object]:
    return lambda r: ABSENT if r[column] is None else r[column]


def _ns_from_ms(column: str) -> Callable[[dict], object]:
    return lambda r: ABSENT if r[column] is None else r[column] * 1_000_000


# Their representation -> ours (a change of notation only, never of meaning).

def _iso_instant(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    assert t.tzinfo is not None, text
    return t


def _httpdate_instant(text: str) -> datetime:
    return datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z")


def _unix_nano_instant(text: str) -> datetime:
    ns = int(text)
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)


def _yes_dash(text: str) -> object:  # AWS aclRequired: `Yes` or `-`
    return {"Yes": True, "-": False}.get(text, text)


# --------------------------------------------------------------------------------------------
# Dialects: how each project names our fields.
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dialect:
    name: str
    # their key -> our column, compared for equality (after `convert`, if any)
    same: dict[str, str]
    # their key -> function of our record giving the value they should have
    derived: dict[str, Callable[[dict], object]] = field(default_factory=dict)
    # their key -> their text -> our representation
    convert: dict[str, Callable[[str], object]] = field(default_factory=dict)
    # our column -> their keys whose absence (where their record is complete) means `-`
    # (built from `same`; `presence_extra` adds keys for fields they only store in parts)
    presence_extra: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # their key, or prefix ending in ".", -> why it is not compared
    ignored: dict[str, str] = field(default_factory=dict)

    def presence(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for key, column in self.same.items():
            out[column] = (*out.get(column, ()), key)
        for column, keys in self.presence_extra.items():
            out[column] = (*out.get(column, ()), *keys)
        return out

    def ignored_reason(self, key: str) -> str | None:
        for k, why in self.ignored.items():
            if key == k or (k.endswith(".") and key.startswith(k)):
                return why
        return None


_S3A = "aws.s3access."

ELASTIC = Dialect(
    name="elastic",
    same={
        f"{_S3A}bucket_owner": "bucket_owner",
        f"{_S3A}bucket": "bucket",
        "@timestamp": "request_time",
        f"{_S3A}remote_ip": "remote_ip",
        f"{_S3A}requester": "requester",
        f"{_S3A}request_id": "request_id",
        f"{_S3A}operation": "operation",
        f"{_S3A}key": "key",
        f"{_S3A}request_uri": "request_uri",
        f"{_S3A}http_status": "http_status",
        f"{_S3A}error_code": "error_code",
        f"{_S3A}bytes_sent": "bytes_sent",
        f"{_S3A}object_size": "object_size",
        f"{_S3A}total_time": "total_time_ms",
        f"{_S3A}turn_around_time": "turnaround_time_ms",
        f"{_S3A}referrer": "referer",
        f"{_S3A}user_agent": "user_agent",
        f"{_S3A}version_id": "version_id",
        f"{_S3A}host_id": "host_id",
        f"{_S3A}signature_version": "signature_version",
        f"{_S3A}cipher_suite": "cipher_suite",
        f"{_S3A}authentication_type": "authentication_type",
        f"{_S3A}host_header": "host_header",
        f"{_S3A}tls_version": "tls_version",
        f"{_S3A}point_arn": "access_point_arn",         # integrations' name for it
        f"{_S3A}access_point_arn": "access_point_arn",
        f"{_S3A}aclrequired": "acl_required",           # integrations: raw "Yes"
        f"{_S3A}acl_required": "acl_required",
        # Source Region (27th field) is not extracted by the pipeline versions in the corpus.
    },
    convert={
        "@timestamp": _iso_instant,
        f"{_S3A}aclrequired": _yes_dash,
        f"{_S3A}acl_required": _yes_dash,
    },
    derived={
        # ECS copies of a log field
        "client.ip": _copy("remote_ip"),
        "client.address": _copy("remote_ip"),
        "client.user.id": _copy("requester"),
        "event.id": _copy("request_id"),
        "event.action": _copy("operation"),
        "event.code": _copy("error_code"),
        "http.response.status_code": _copy("http_status"),
        "http.response.body.bytes": _copy("bytes_sent"),
        "http.request.referrer": _copy("referer"),
        "user_agent.original": _copy("user_agent"),
        "tls.cipher": _copy("cipher_suite"),
        # ECS values computed from a log field
        "event.duration": _ns_from_ms("total_time_ms"),   # ECS durations are nanoseconds
        "http.request.method": _method,
        "http.version": _http_version,
        "url.original": _target,
        "url.path": _url_path,
        "url.query": _url_query,
        "url.extension": _url_extension,
        "tls.version": _tls_split(1),                    # "TLSv1.2" -> "1.2"
        "tls.version_protocol": _tls_split(0),           # "TLSv1.2" -> "tls"
    },
    ignored={
        "event.original": "their copy of the raw line: used to align records, asserted apart",
        "log.offset": "byte offset of the line: used to align records, asserted apart",
        "geo.": "GeoIP enrichment of the remote IP",
        "client.geo.": "GeoIP enrichment of the remote IP",
        "user_agent.name": "User-Agent parsing (ua-parser), not a log field",
        "user_agent.version": "User-Agent parsing (ua-parser), not a log field",
        "user_agent.os.": "User-Agent parsing (ua-parser), not a log field",
        "user_agent.device.": "User-Agent parsing (ua-parser), not a log field",
        "cloud.provider": "constant 'aws'",
        "cloud.region": "Elastic guesses the bucket's region from the Host Header; not a log "
                        "field (and not our source_region, which is where the request came from)",
        "related.": "ECS aggregates of fields compared above (IPs, bucket owner)",
        "event.kind": "ECS categorisation constant",
        "event.category": "ECS categorisation constant",
        "event.type": "ECS categorisation constant",
        "event.dataset": "Elastic metadata",
        "event.module": "Elastic metadata",
        "event.outcome": "Elastic's classification of the request, not a log field",
        "fileset.name": "Elastic metadata",
        "input.type": "Elastic metadata",
        "service.type": "Elastic metadata",
        "tags": "Elastic metadata",
        "ecs.version": "Elastic metadata",
    },
)

OTEL_DIALECT = Dialect(
    name="otel",
    same={
        "aws.s3.owner": "bucket_owner",                  # resource attribute
        "aws.s3.bucket": "bucket",                       # resource attribute
        "timeUnixNano": "request_time",
        "source.address": "remote_ip",
        "user.id": "requester",
        "aws.request_id": "request_id",
        "rpc.method": "operation",
        "aws.s3.key": "key",
        "http.response.status_code": "http_status",
        "error.type": "error_code",
        "http.response.body.size": "bytes_sent",
        "aws.s3.object.size": "object_size",
        "duration": "total_time_ms",                     # milliseconds, as logged
        "aws.s3.turn_around": "turnaround_time_ms",
        "http.request.header.referer": "referer",
        "user_agent.original": "user_agent",
        "aws.s3.version_id": "version_id",
        "aws.extended_request_id": "host_id",
        "aws.signature.version": "signature_version",
        "tls.cipher": "cipher_suite",
        "aws.s3.auth_type": "authentication_type",
        "http.request.header.host": "host_header",
        "tls.protocol.version": "tls_version",           # see JUSTIFIED
        "aws.s3.access_point.arn": "access_point_arn",
        "aws.s3.acl_required": "acl_required",           # boolValue; they map `-` to false too
        "aws.s3.source_region": "source_region",
    },
    convert={"timeUnixNano": _unix_nano_instant},
    derived={
        # OTel stores the Request-URI only in parts
        "http.request.method": _method,
        "url.path": _url_path_decoded,
        "url.query": _url_query,
        "network.protocol.name": _protocol_name,
        "network.protocol.version": _http_version,
    },
    presence_extra={"request_uri": ("http.request.method",)},
    ignored={
        "cloud.provider": "constant 'aws' (resource attribute)",
        "body": "empty: OTel puts the whole record in attributes",
        "spanId": "empty: no trace context in access logs",
        "traceId": "empty: no trace context in access logs",
        "url.scheme": "only set for absolute-form request targets; none in the corpus",
    },
)

LOGSTASH_ECS = Dialect(
    name="logstash-ecs",
    same={
        "timestamp": "request_time",
        f"{_S3A}bucket_owner": "bucket_owner",
        f"{_S3A}bucket": "bucket",
        "client.ip": "remote_ip",
        "client.user.id": "requester",
        f"{_S3A}request_id": "request_id",
        f"{_S3A}operation": "operation",
        f"{_S3A}key": "key",
        f"{_S3A}request_uri": "request_uri",
        "http.response.status_code": "http_status",
        f"{_S3A}error_code": "error_code",
        f"{_S3A}bytes_sent": "bytes_sent",
        f"{_S3A}object_size": "object_size",
        f"{_S3A}total_time": "total_time_ms",
        f"{_S3A}turn_around_time": "turnaround_time_ms",
        "http.request.referrer": "referer",
        "user_agent.original": "user_agent",
        f"{_S3A}version_id": "version_id",
        f"{_S3A}host_id": "host_id",
        f"{_S3A}signature_version": "signature_version",
        "tls.cipher": "cipher_suite",
        f"{_S3A}authentication_type": "authentication_type",
        f"{_S3A}host_header": "host_header",
        f"{_S3A}tls_version": "tls_version",
    },
    convert={"timestamp": _httpdate_instant},
    derived={
        "http.request.method": _method,
        "http.version": _http_version,
        "url.original": _target,
    },
)

LOGSTASH_LEGACY = Dialect(
    name="logstash-legacy",
    same={
        "owner": "bucket_owner",
        "bucket": "bucket",
        "timestamp": "request_time",
        "clientip": "remote_ip",
        "requester": "requester",
        "request_id": "request_id",
        "operation": "operation",
        "key": "key",
        "response": "http_status",
        "error_code": "error_code",
        "bytes": "bytes_sent",
        "object_size": "object_size",
        "request_time_ms": "total_time_ms",
        "turnaround_time_ms": "turnaround_time_ms",
        "referrer": "referer",
        "agent": "user_agent",
        "version_id": "version_id",
    },
    convert={"timestamp": _httpdate_instant},
    derived={"verb": _method, "request": _target, "httpversion": _http_version},
    ignored={"tags": "asserted nil = no _grokparsefailure; we check the line is a record"},
)

DIALECTS = {d.name: d for d in (ELASTIC, OTEL_DIALECT, LOGSTASH_ECS, LOGSTASH_LEGACY)}


# --------------------------------------------------------------------------------------------
# Justified differences. Each entry accepts one exact pattern of (their value, our value) for
# one of our columns in one dialect; anything else that differs fails. ABSENT = they omit it.
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Justified:
    dialect: str
    column: str
    accepts: Callable[[object, object], bool]
    why: str


JUSTIFIED: tuple[Justified, ...] = (
    # Elastic (Beats module and integrations package): their pipelines drop every `-` field.
    # "Absent in theirs = null in ours" is the general rule; these are the two fields where
    # AWS gives `-` a meaning, so we store a value instead of null.
    Justified("elastic", "bytes_sent", lambda t, o: t is ABSENT and o == 0,
              "Elastic omits Bytes Sent `-`; AWS logs `-` for zero bytes, so ours is 0"),
    Justified("elastic", "acl_required", lambda t, o: t is ABSENT and o is False,
              "Elastic omits aclRequired `-`; AWS documents `-` as 'no ACL was required', "
              "so ours is False"),
    # Elastic integrations (2025 S3.EXPIRE.OBJECT line): `"-"` Request-URI kept as text.
    Justified("elastic", "request_uri", lambda t, o: t == "-" and o is None,
              "Elastic keeps a quoted \"-\" Request-URI as the string '-' (its grok only "
              "drops a bare -); every `-`, bare or quoted, is null for us"),
    # OpenTelemetry: TLS version reduced to the number (value[value.index('1'):]).
    Justified("otel", "tls_version",
              lambda t, o: isinstance(o, str) and o[:4].lower() == "tlsv" and t == o[4:],
              "OTel normalises TLS version to the number ('TLSV1.2' -> '1.2'); we keep it "
              "as logged (AWS's own examples write TLSV1.2)"),
    # Logstash legacy (non-ECS) grok: `-` is kept verbatim and quotes are kept.
    Justified("logstash-legacy", "key", lambda t, o: t == "-" and o is None,
              "Logstash legacy returns Key `-` verbatim; we return null"),
    Justified("logstash-legacy", "requester", lambda t, o: t == "-" and o is None,
              "Logstash legacy returns Requester `-` verbatim; we return null"),
    Justified("logstash-legacy", "referer", lambda t, o: t == '"-"' and o is None,
              "Logstash legacy keeps the quotes around Referer (so '\"-\"'); we strip them "
              "and return null for `-`"),
    Justified("logstash-legacy", "user_agent",
              lambda t, o: isinstance(o, str) and t == f'"{o}"',
              "Logstash legacy keeps the quotes around User-Agent; we strip them"),
    Justified("logstash-legacy", "bytes_sent", lambda t, o: t is None and o == 0,
              "Logstash legacy asserts Bytes Sent `-` is nil; AWS logs `-` for zero bytes, "
              "so ours is 0"),
)


# --------------------------------------------------------------------------------------------
# Their side: expectation records, each aligned with one line of its log.
# --------------------------------------------------------------------------------------------

@dataclass
class Expectation:
    id: str
    dialect: str
    log: str
    line: int
    fields: dict[str, object]          # their keys (flattened with "."), their values
    complete: Callable[[str], bool]    # does their record assert this key's absence?
    original: str | None = None        # their copy of the raw line, when they ship one


def _flatten(d: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _everything(_key: str) -> bool:
    return True


def _nothing(_key: str) -> bool:
    return False


def load_elastic_beats() -> list[Expectation]:
    events = json.loads((CORPUS / f"{BEATS_LOG}-expected.json").read_text())
    starts, offset = {}, 0
    for n, raw in enumerate(raw_lines(BEATS_LOG), 1):
        starts[offset] = n
        offset += len(raw) + 1
    out = []
    for ev in events:
        ev = _flatten(ev)
        line = starts[ev["log.offset"]]
        out.append(Expectation(f"beats-L{line}", "elastic", BEATS_LOG, line, ev, _everything,
                               ev.get("event.original")))
    return out


def load_elastic_integrations() -> list[Expectation]:
    doc = json.loads((CORPUS / f"{INTEGRATIONS_LOG}-expected.json").read_text())
    out = []
    for line, ev in enumerate(doc["expected"], 1):
        ev = _flatten(ev)
        out.append(Expectation(f"integrations-L{line}", "elastic", INTEGRATIONS_LOG, line, ev,
                               _everything, ev.get("event.original")))
    return out


def _otel_value(v: dict) -> object:
    (kind, value), = v.items()
    if kind == "stringValue":
        return value
    if kind == "intValue":
        return int(value)
    if kind == "boolValue":
        return bool(value)
    if kind == "doubleValue":
        return float(value)
    raise AssertionError(f"unexpected OTel value {v!r}")


def _otel_attributes(attrs: list[dict] | None) -> dict[str, object]:
    return {a["key"]: _otel_value(a["value"]) for a in attrs or ()}


def load_otel(case: str) -> list[Expectation]:
    doc = yaml.safe_load((CORPUS / f"{OTEL}{case}_expected.yaml").read_text())
    log, out, line = f"{OTEL}{case}.log", [], 0
    for rl in doc["resourceLogs"]:
        resource = _otel_attributes(rl.get("resource", {}).get("attributes"))
        for sl in rl["scopeLogs"]:       # scope name/attributes describe their encoder
            for rec in sl["logRecords"]:
                line += 1
                fields = {**resource, **_otel_attributes(rec.get("attributes"))}
                fields.update({k: v for k, v in rec.items() if k != "attributes"})
                out.append(Expectation(f"otel-{case}-L{line}", "otel", log, line, fields,
                                       _everything))
    return out


def load_logstash() -> list[Expectation]:
    doc = json.loads((CORPUS / f"{LOGSTASH_LOG}-expected.TRANSCRIBED.json").read_text())
    out = []
    for line, case in enumerate(doc["cases"], 1):
        legacy = dict(case["legacy_includes"])
        for nil in case["legacy_nil"]:      # e.g. "object_size (comment in spec: ...)"
            legacy[nil.split(" (")[0]] = None
        out.append(Expectation(f"logstash-legacy-L{line}", "logstash-legacy", LOGSTASH_LOG,
                               line, legacy, _nothing, case["line"]))
        if case["ecs_v1_includes"] is None:
            continue
        fields: dict[str, object] = {}
        exact: list[str] = []
        for key, value in case["ecs_v1_includes"].items():
            name, _, mode = key.partition(" (")
            if isinstance(value, dict):
                fields.update(_flatten(value, f"{name}."))
                if mode == "exact)":
                    exact.append(f"{name}.")
            else:
                fields[name] = value
        out.append(Expectation(
            f"logstash-ecs-L{line}", "logstash-ecs", LOGSTASH_LOG, line, fields,
            lambda k, exact=tuple(exact): k.startswith(exact), case["line"]))
    return out


EXPECTATION_FILES = {
    f"{BEATS_LOG}-expected.json": load_elastic_beats,
    f"{INTEGRATIONS_LOG}-expected.json": load_elastic_integrations,
    f"{LOGSTASH_LOG}-expected.TRANSCRIBED.json": load_logstash,
    **{f"{OTEL}{c}_expected.yaml": (lambda c=c: load_otel(c)) for c in OTEL_CASES},
}
EXPECTATIONS = [e for load in EXPECTATION_FILES.values() for e in load()]


# --------------------------------------------------------------------------------------------
# The comparison.
# --------------------------------------------------------------------------------------------

def _same(theirs: object, ours: object) -> bool:
    if theirs is ABSENT or ours is ABSENT:
        return (theirs is ABSENT and ours in (None, ABSENT)) or (ours is ABSENT and theirs is None)
    return type(theirs) is type(ours) and theirs == ours  # no True == 1, no "200" == 200


@dataclass
class Comparison:
    compared: list[str] = field(default_factory=list)   # their keys / columns asserted
    problems: list[str] = field(default_factory=list)
    justified: set[int] = field(default_factory=set)    # indexes into JUSTIFIED


def compare(exp: Expectation) -> Comparison:
    dialect = DIALECTS[exp.dialect]
    ours = our_record(exp.log, exp.line)
    result = Comparison()

    def check(column: str, what: str, theirs: object, mine: object) -> None:
        result.compared.append(what)
        if _same(theirs, mine):
            return
        for i, j in enumerate(JUSTIFIED):
            if j.dialect == exp.dialect and j.column == column and j.accepts(theirs, mine):
                result.justified.add(i)
                return
        result.problems.append(f"{what}: theirs={theirs!r} ours={mine!r}")

    for key, value in exp.fields.items():
        if key in dialect.same:
            column = dialect.same[key]
            theirs = dialect.convert[key](value) if key in dialect.convert else value
            check(column, f"{column} (their {key})", theirs, ours[column])
        elif key in dialect.derived:
            check(key, f"{key} (derived from ours)", value, dialect.derived[key](ours))
        elif dialect.ignored_reason(key) is None:
            result.problems.append(f"unmapped field {key}={value!r}: map it onto our columns "
                                   "or add it to the dialect's ignored table with a reason")

    # Where their record is complete, a field they drop was `-`: ours must be null too.
    for column, keys in dialect.presence().items():
        if not any(k in exp.fields for k in keys) and all(exp.complete(k) for k in keys):
            check(column, f"{column} (absent: {'/'.join(keys)})", ABSENT, ours[column])
    return result


@pytest.mark.parametrize("exp", EXPECTATIONS, ids=lambda e: e.id)
def test_matches_their_expectation(exp: Expectation):
    if exp.original is not None:  # the pairing of their record with our line is right
        assert raw_lines(exp.log)[exp.line - 1].decode() == exp.original
    result = compare(exp)
    problems = result.problems
    assert not problems, (f"{exp.log} line {exp.line} vs {exp.dialect} expectation:\n  "
                          + "\n  ".join(problems))
    # A loader that lost their fields would make this pass vacuously.
    assert len(result.compared) >= 6, result.compared


def test_every_expectation_record_is_compared():
    want = {
        "elastic": len(raw_lines(BEATS_LOG)) + len(raw_lines(INTEGRATIONS_LOG)),
        "otel": len(OTEL_CASES),
        "logstash-legacy": 3,
        "logstash-ecs": 2,  # the spec asserts no ecs-v1 fields for its first line
    }
    got = {name: sum(e.dialect == name for e in EXPECTATIONS) for name in DIALECTS}
    assert got == want
    assert len({(e.dialect, e.log, e.line) for e in EXPECTATIONS}) == len(EXPECTATIONS)


def test_every_justified_difference_is_still_needed():
    used: set[int] = set()
    for exp in EXPECTATIONS:
        used |= compare(exp).justified
    stale = [f"{j.dialect}/{j.column}: {j.why}" for i, j in enumerate(JUSTIFIED)
             if i not in used]
    assert not stale, "justified differences no corpus record needs any more:\n" + "\n".join(
        stale)


def test_every_corpus_expectation_file_is_read():
    others = {p.name for p in CORPUS.iterdir()
              if p.suffix not in (".log", ".md") and p.is_file()}
    assert others == set(EXPECTATION_FILES)


# --------------------------------------------------------------------------------------------
# Every corpus log: counts reconcile, line order, exact parser agrees.
# --------------------------------------------------------------------------------------------

ALL_LOGS = sorted(p.name for p in CORPUS.glob("*.log"))


@pytest.mark.parametrize("log", ALL_LOGS)
def test_counts_reconcile(log: str):
    result = parsed(log)
    non_blank = [n for n, raw in enumerate(raw_lines(log), 1) if raw.strip()]
    assert result.lines_read == len(result.records) + len(result.rejects)
    assert result.lines_read == len(non_blank)
    assert len(result.rejects) == REJECTED_LOGS.get(log, 0), result.rejects.to_pylist()
    got = sorted(result.records["line_number"].to_pylist()
                 + result.rejects["line_number"].to_pylist())
    assert got == non_blank
    assert result.records["line_number"].to_pylist() == sorted(
        result.records["line_number"].to_pylist())
    assert set(result.records["source_key"].to_pylist()) <= {log}


@pytest.mark.parametrize("log", ALL_LOGS)
def test_exact_parser_agrees(log: str):
    """The chunk pipeline (vectorised + fallback) and the exact one-line parser agree."""
    recs = records_by_line(log)
    for n, raw in enumerate(raw_lines(log), 1):
        if not raw.strip():
            continue
        try:
            exact = dict(zip(RECORD_SCHEMA.names, parse_line(raw), strict=True))
        except LineRejected:
            assert n not in recs, f"line {n}: exact parser rejects, pipeline accepts"
            continue
        exact.update(source_key=log, line_number=n)
        assert recs.get(n) == exact, f"line {n}"


def test_too_few_values_is_a_reject():
    result = parsed(TOO_FEW_LOG)
    assert len(result.records) == 0
    (rej,) = result.rejects.to_pylist()
    assert rej["line_number"] == 1 and rej["source_key"] == TOO_FEW_LOG
    assert rej["raw_line"] == (CORPUS / TOO_FEW_LOG).read_bytes().rstrip(b"\n")
    assert rej["reason"]


# --------------------------------------------------------------------------------------------
# Logs without a machine-readable expectation: hand-checked fields that matter.
# --------------------------------------------------------------------------------------------

def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


AWSDOCS = "awsdocs__amazon-s3-userguide__LogFormat-example-2023-06-09.log"
DOCS_EXCERPT = "docs.aws.amazon.com__AmazonS3-userguide__LogFormat-current-excerpt.log"
LNAV = "tstack__lnav__s3_log-format-samples.log"
COCOON = "cocoonlife__s3-log-parse__issue-1-quote-in-request-uri.log"
SIEM = "aws-samples__siem-on-amazon-opensearch-service__pr-34-quote-in-user-agent.log"
OTEL_MULTI = f"{OTEL}stream-valid_log_multi.log"
OTEL_TOO_MANY = f"{OTEL}too_many_values.log"

HAND_CHECKED = [
    # AWS's own 2023 example: 26 fields, TLSV1.2 written with a capital V and kept as logged.
    (AWSDOCS, 1, dict(field_count=26, bucket="DOC-EXAMPLE-BUCKET1",
                      request_time=_utc(2019, 2, 6, 0, 0, 38), key=None,
                      request_uri="GET /DOC-EXAMPLE-BUCKET1?versioning HTTP/1.1",
                      bytes_sent=113, object_size=None, total_time_ms=7, referer=None,
                      user_agent="S3Console/0.4", tls_version="TLSV1.2",
                      access_point_arn="arn:aws:s3:us-west-1:123456789012:accesspoint/example-AP",
                      acl_required=True, source_region=None)),
    (AWSDOCS, 2, dict(field_count=26, access_point_arn=None, acl_required=False)),
    # Line 3 ends with a trailing space (as in the doc): still a 26-field record.
    (AWSDOCS, 3, dict(field_count=26, http_status=404, error_code="NoSuchBucketPolicy",
                      bytes_sent=297, access_point_arn=None, acl_required=True,
                      extra_fields=[], source_region=None)),
    (AWSDOCS, 5, dict(operation="REST.PUT.OBJECT", key="s3-dg.pdf", bytes_sent=0,
                      object_size=4406583, total_time_ms=41754, turnaround_time_ms=28,
                      cipher_suite="ECDHE-RSA-AES128-SHA", acl_required=True)),
    # Current docs: the only 27-field lines (Source Region).
    (DOCS_EXCERPT, 1, dict(field_count=27, source_region="us-east-1", acl_required=True,
                           bucket="amzn-s3-demo-bucket1", extra_fields=[])),
    (DOCS_EXCERPT, 2, dict(field_count=27, source_region="us-east-1", acl_required=False,
                           access_point_arn=None, operation="REST.GET.LOGGING_STATUS")),
    # lnav: 2012 website line with 17 fields (before Version Id) and zone -0500.
    (LNAV, 1, dict(field_count=17, request_time=_utc(2012, 2, 10, 21, 42, 7),
                   operation="WEBSITE.GET.OBJECT", key="index",
                   requester="arn:aws:iam::179580289999:user/phillip.boss",
                   request_uri="GET /index HTTP/1.1", http_status=200, bytes_sent=368,
                   object_size=368, total_time_ms=10, turnaround_time_ms=9, referer=None,
                   user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/535.11 (KHTML, "
                              "like Gecko) Chrome/17.0.963.56 Safari/535.11",
                   version_id=None, host_id=None, tls_version=None, acl_required=None)),
    (LNAV, 2, dict(field_count=24, signature_version="SigV2", tls_version="TLSV1.1",
                   access_point_arn=None, acl_required=None)),
    # cocoonlife issue 1: unescaped quote inside the Request-URI, referer with a space.
    (COCOON, 1, dict(field_count=24, key="%2522", request_uri='GET /" HTTP/1.1',
                     http_status=403, error_code="AccessDenied", bytes_sent=243,
                     referer="referer test", user_agent="curl/7.38.0", requester=None,
                     signature_version=None, authentication_type=None,
                     cipher_suite="ECDHE-RSA-AES128-GCM-SHA256",
                     host_header="testing-1234xxx.s3.amazonaws.com", tls_version="TLSv1.2")),
    # SIEM PR 34: User-Agent ending in a quote (`...Safari/604.1""`), legacy dash-region host.
    (SIEM, 1, dict(field_count=24, bucket_owner="BucketOwner", remote_ip="xxx.xxxx.xx.xxx",
                   key="aaa/fizzbuzz.txt", request_uri="GET /some-path/fizzbuzz.txt HTTP/1.1",
                   bytes_sent=49851, object_size=49851, total_time_ms=23,
                   turnaround_time_ms=22, referer="https://example,com/some/url",
                   user_agent="Mozilla/5.0 (iPad; CPU OS 13_1 like Mac OS X) "
                              "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0.1 "
                              'Mobile/15E148 Safari/604.1"',
                   version_id=None, host_id="someIDstring", signature_version=None,
                   authentication_type=None, host_header="s3-ap-northeast-1.amazonaws.com",
                   tls_version="TLSv1.2")),
    # OTel stream sample (its expected YAMLs were not saved): docs lines 1-3.
    (OTEL_MULTI, 1, dict(field_count=26, acl_required=True, request_id="3E57427F3EXAMPLE")),
    (OTEL_MULTI, 2, dict(field_count=26, acl_required=False, access_point_arn=None)),
    (OTEL_MULTI, 3, dict(field_count=26, acl_required=True, error_code="NoSuchBucketPolicy")),
    # OTel drops the 28th field; we keep unknown trailing fields (AWS appends new ones).
    (OTEL_TOO_MANY, 1, dict(field_count=28, source_region="us-east-1",
                            extra_fields=["ExtraUnknownField"])),
]


@pytest.mark.parametrize(("log", "line", "want"), HAND_CHECKED,
                         ids=[f"{log.removeprefix(OTEL).split('__')[0]}-L{n}"
                              for log, n, _ in HAND_CHECKED])
def test_hand_checked_fields(log: str, line: int, want: dict):
    rec = our_record(log, line)
    got = {k: rec[k] for k in want}
    assert got == want
    for k, v in want.items():  # bool/int strictness (True == 1 would pass above)
        assert type(got[k]) is type(v), k
