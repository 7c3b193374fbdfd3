"""The S3 server access log record: field order, Arrow types, documentation and value shapes.

This module is the single source of truth for the record schema. The parser builds its
tables from `RECORD_SCHEMA`, the lake writer persists it, and the SQL views take their
column comments from `FIELDS`. Names are a stable contract: analysts and SQL models
depend on them, so fields are only ever appended, never renamed or reordered.

Format facts (AWS S3 User Guide, "Amazon S3 server access log format"): one record per
line, space-delimited; Request-URI, Referer and User-Agent are double-quoted (without any
escaping of inner quotes); the time is bracketed and contains one space; any field may be
`-`; AWS appends new fields at the end of the line over the years, so a record has 17, 18,
24, 25, 26 or 27 fields today and may have more tomorrow.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Field:
    name: str
    type: pa.DataType
    doc: str
    aws_name: str
    # Anchored regex that a raw token must match for the field to be placed with
    # confidence; None means any non-empty token. Written with explicit ASCII classes so
    # that Python `re` (the exact parser) and RE2 (the fast path) read it alike: their `\S`
    # and case folding differ outside ASCII.
    shape: str | None = None


OPERATION_RE = r"[A-Z][A-Z0-9]*(?:\.[A-Za-z0-9_]+){1,4}"
"""`REST.GET.OBJECT`, `S3.COMPUTE.OBJECT.CHECKSUM`, `SOAP.CreateBucket`...: the anchor that
tells where a requester with spaces (CloudFront origin access identities) ends."""

MAX_FIELD_COUNT = 127  # field_count is an int8: S3 appends a field every few years
INT_RE = r"[0-9]{1,18}"  # 18 digits always fit an int64
TIMESTAMP = pa.timestamp("us", tz="UTC")

FIELDS: tuple[Field, ...] = (
    Field("bucket_owner", pa.string(), "Canonical user ID of the owner of the source bucket.",
          "Bucket Owner"),
    Field("bucket", pa.string(), "Name of the source bucket the request was made to.", "Bucket"),
    Field("request_time", TIMESTAMP,
          "Time the request was received, converted to UTC from the logged offset.", "Time"),
    Field("remote_ip", pa.string(), "Apparent IPv4 or IPv6 address of the requester; "
          "null for requests made by S3 itself (lifecycle, log delivery).", "Remote IP"),
    Field("requester", pa.string(), "Canonical user ID, IAM/STS ARN or service principal "
          "of the requester; null for anonymous requests.", "Requester"),
    Field("request_id", pa.string(), "S3 request ID. Not unique per record: a copy or a "
          "multi-object delete logs several records with one request ID.", "Request ID"),
    Field("operation", pa.string(), "SOAP.op, REST.METHOD.resource, WEBSITE.METHOD.resource, "
          "BATCH.DELETE.OBJECT or S3.action.resource (lifecycle).", "Operation",
          OPERATION_RE),
    Field("key", pa.string(), "Object key exactly as logged: URL-encoded, but not "
          "consistently, so it is kept raw; views offer a decoded column.", "Key"),
    Field("request_uri", pa.string(), "The HTTP request line without its quotes, "
          "e.g. `GET /bucket/key HTTP/1.1`.", "Request-URI"),
    Field("http_status", pa.int16(), "Numeric HTTP status; null when not logged "
          "(lifecycle records).", "HTTP status", r"[0-9]{3}"),
    Field("error_code", pa.string(), "S3 error code such as NoSuchKey; null on success.",
          "Error Code"),
    Field("bytes_sent", pa.int64(), "Response bytes sent, excluding HTTP headers. AWS "
          "logs `-` for zero, so it is 0, never null, when the field is present.",
          "Bytes Sent", INT_RE),
    Field("object_size", pa.int64(), "Total size of the object in bytes.", "Object Size",
          INT_RE),
    Field("total_time_ms", pa.int64(), "Milliseconds the request was in flight from the "
          "server's perspective.", "Total Time", INT_RE),
    Field("turnaround_time_ms", pa.int64(), "Milliseconds S3 spent between the last byte of "
          "the request and the first byte of the response.", "Turn-Around Time", INT_RE),
    Field("referer", pa.string(), "HTTP Referer header without its quotes.", "Referer"),
    Field("user_agent", pa.string(), "HTTP User-Agent header without its quotes.",
          "User-Agent"),
    Field("version_id", pa.string(), "Version ID in the request (or, for lifecycle "
          "expirations, of the expired version).", "Version Id"),
    Field("host_id", pa.string(), "x-amz-id-2 extended request ID.", "Host Id"),
    Field("signature_version", pa.string(), "SigV2 or SigV4; null for unauthenticated "
          "requests.", "Signature Version", r"SigV[0-9A-Za-z]+"),
    Field("cipher_suite", pa.string(), "TLS cipher suite; null for plain HTTP.",
          "Cipher Suite", r"[A-Za-z0-9_-]+"),
    Field("authentication_type", pa.string(), "AuthHeader, or QueryString for presigned "
          "URLs; null for unauthenticated requests.", "Authentication Type", r"[A-Za-z]+"),
    Field("host_header", pa.string(), "Endpoint host name used to reach S3.", "Host Header",
          r"[A-Za-z0-9._:\[\]-]+"),
    Field("tls_version", pa.string(), "TLSv1.1, TLSv1.2 or TLSv1.3 as logged (AWS's own "
          "examples write TLSV1.2: compare case-insensitively); null for plain HTTP.",
          "TLS version", r"[Tt][Ll][Ss][Vv][0-9.]+"),
    Field("access_point_arn", pa.string(), "ARN of the access point the request used.",
          "Access Point ARN", r"arn:[!-~]+"),
    Field("acl_required", pa.bool_(), "True when an ACL was required to authorize the "
          "request; null in records older than the field (before late 2022).", "aclRequired",
          r"Yes"),
    Field("source_region", pa.string(), "AWS Region the request came from (field added "
          "2026).", "Source Region", r"[a-z]{2}(?:-[a-z]+)+-[0-9]+"),
)

FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
POS: dict[str, int] = {name: i for i, name in enumerate(FIELD_NAMES)}
"""Position of each field on the line: the parsers address fields by name through this."""
N_FIELDS = len(FIELDS)  # 27 fields AWS documents today
assert N_FIELDS == 27

KNOWN_FIELD_COUNTS = frozenset({17, 18, 24, 25, 26, 27})
"""Generations of the format seen in the wild (17 = before Version Id, 18 until 2019,
24 adds Host Id..TLS version, 25 Access Point ARN, 26 aclRequired, 27 Source Region).
More than 27 means AWS appended fields we do not know yet: kept in `extra_fields`.
Any other count (19-23, <17) is a truncated or foreign line and is rejected."""

QUOTED_FIELDS = frozenset({"request_uri", "referer", "user_agent"})
QUOTED_POS = tuple(sorted(POS[name] for name in QUOTED_FIELDS))
INT_FIELDS = ("http_status", "bytes_sent", "object_size", "total_time_ms",
              "turnaround_time_ms")

LINEAGE_FIELDS: tuple[Field, ...] = (
    Field("extra_fields", pa.list_(pa.string()), "Trailing fields beyond the 27 known ones, "
          "raw and in order (AWS appends new fields at the end); empty for known layouts.",
          "-"),
    Field("field_count", pa.int8(), "Number of fields on the line: tells the format "
          "generation (18, 24, 25, 26, 27, more when AWS adds fields).", "-"),
    Field("source_key", pa.string(), "Key (or path) of the log object the record was read "
          "from.", "-"),
    Field("line_number", pa.int32(), "1-based line number of the record in its log object "
          "(blank lines count).", "-"),
    Field("utf8_repaired", pa.bool_(), "True when the line held bytes that are not valid "
          "UTF-8: each invalid sequence was replaced by U+FFFD, the rest kept.", "-"),
    Field("record_id", pa.binary(16), "XXH3-128 of the raw line (without its line ending): "
          "the same record delivered twice has the same id, so duplicates can be dropped.",
          "-"),
)

RECORD_SCHEMA = pa.schema([pa.field(f.name, f.type) for f in FIELDS + LINEAGE_FIELDS])

REJECT_FIELDS: tuple[Field, ...] = (
    Field("source_key", pa.string(), "Key (or path) of the log object the line was read "
          "from.", "-"),
    Field("line_number", pa.int32(), "1-based line number in the log object (blank lines "
          "count); for an object that could not be read at all, the line it stopped at.", "-"),
    Field("raw_line", pa.binary(), "The line's bytes exactly as logged, without its line "
          "ending.", "-"),
    Field("reason", pa.string(), "Why the line is not a record, in one sentence.", "-"),
)
REJECT_SCHEMA = pa.schema([pa.field(f.name, f.type) for f in REJECT_FIELDS])


def field_docs() -> dict[str, str]:
    """Column documentation keyed by column name, for SQL comments and the README."""
    return {f.name: f.doc for f in FIELDS + LINEAGE_FIELDS}


def reject_docs() -> dict[str, str]:
    return {f.name: f.doc for f in REJECT_FIELDS}


def markdown_table() -> str:
    """The schema as a Markdown table (docs/schema.md embeds it; make docs writes it)."""
    rows = ["| # | column | type | AWS field | meaning |", "|---|---|---|---|---|"]
    for i, f in enumerate(FIELDS + LINEAGE_FIELDS, 1):
        rows.append(f"| {i} | `{f.name}` | {f.type} | {f.aws_name} | {f.doc} |")
    return "\n".join(rows)

