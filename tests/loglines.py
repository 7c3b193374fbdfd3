"""Build S3 access log lines for tests, field by field (our own fixtures, not the corpus)."""

from __future__ import annotations

from pipelines.parsing.logformat import RECORD_SCHEMA
from pipelines.parsing.parse import parse_log
from pipelines.parsing.parse_line import LineRejected, parse_line

BASE = {
    "bucket_owner": "5e2f0b6c0d1a4b3c9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928",
    "bucket": "amzn-s3-demo-bucket1",
    "time": "[24/Nov/2026:03:15:07 +0000]",
    "remote_ip": "198.51.100.23",
    "requester": "arn:aws:iam::111122223333:user/analyst",
    "request_id": "K4ZXB7R1QW2E8T3Y",
    "operation": "REST.GET.OBJECT",
    "key": "reports/2026/q3.pdf",
    "request_uri": '"GET /amzn-s3-demo-bucket1/reports/2026/q3.pdf HTTP/1.1"',
    "http_status": "200",
    "error_code": "-",
    "bytes_sent": "52311",
    "object_size": "52311",
    "total_time_ms": "41",
    "turnaround_time_ms": "12",
    "referer": '"-"',
    "user_agent": '"aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0 command/s3.cp"',
    "version_id": "-",
    "host_id": "Wq3v1fyHsvNw0bdJvKhG5r2kL8Zp1xQo9sYbT4cE6uI7aR0mN3jD2hF5gK8lP1oZ",
    "signature_version": "SigV4",
    "cipher_suite": "TLS_AES_128_GCM_SHA256",
    "authentication_type": "AuthHeader",
    "host_header": "amzn-s3-demo-bucket1.s3.us-east-1.amazonaws.com",
    "tls_version": "TLSv1.3",
    "access_point_arn": "-",
    "acl_required": "-",
    "source_region": "us-east-1",
}
ORDER = list(BASE)


def line(n_fields: int = 27, extra: tuple[str, ...] = (), **overrides: str) -> bytes:
    """A log line with `n_fields` of the 27 known fields (older layouts), then `extra`."""
    tokens = {**BASE, **overrides}
    return " ".join([tokens[k] for k in ORDER[:n_fields]] + list(extra)).encode()


def both_paths(raw: bytes) -> dict | None:
    """Parse one line with the chunk pipeline and with the exact parser; assert they agree.

    Returns the record as a dict, or None when the line is rejected (by both)."""
    result = parse_log(raw + b"\n", "fixture.log")
    assert result.lines_read == len(result.records) + len(result.rejects) == 1
    try:
        exact = dict(zip(RECORD_SCHEMA.names, parse_line(raw)))
    except LineRejected:
        exact = None
    if exact is None:
        assert len(result.rejects) == 1, result.records.to_pylist()
        return None
    assert len(result.records) == 1, result.rejects.to_pylist()
    got = result.records.to_pylist()[0]
    exact.update(source_key="fixture.log", line_number=1)
    assert got == exact
    return got


def reject_reason(raw: bytes) -> str:
    result = parse_log(raw + b"\n", "fixture.log")
    assert len(result.records) == 0 and len(result.rejects) == 1
    row = result.rejects.to_pylist()[0]
    assert row["raw_line"] == raw and row["line_number"] == 1
    assert row["source_key"] == "fixture.log"
    with __import__("pytest").raises(LineRejected):
        parse_line(raw)
    return row["reason"]
