"""The parsers we compare against, written the way most users write them."""

from __future__ import annotations

import re
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

# The AWS-documented Athena RegexSerDe pattern (S3 User Guide, "Using Amazon S3 access logs
# to identify requests"), with its Java string escapes undone.
ATHENA_REGEX = re.compile(
    rb'([^ ]*) ([^ ]*) \[(.*?)\] ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) (-|[0-9]*) '
    rb'([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ("[^"]*"|-) ([^ ]*)(?: ([^ ]*) ([^ ]*) '
    rb'([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*) ([^ ]*))?.*$')
ATHENA_COLUMNS = ["bucketowner", "bucket_name", "requestdatetime", "remoteip", "requester",
                  "requestid", "operation", "key", "request_uri", "httpstatus", "errorcode",
                  "bytessent", "objectsize", "totaltime", "turnaroundtime", "referrer",
                  "useragent", "versionid", "hostid", "sigv", "ciphersuite", "authtype",
                  "endpoint", "tlsversion", "accesspointarn", "aclrequired"]
_INTS = {9, 11, 12, 13, 14}


def _int(v: bytes | None) -> int | None:
    return None if v is None or v == b"-" else int(v)


def parse_with_re(data: bytes) -> tuple[pa.Table, int]:
    """The parser most users write: the Athena regex, then each value typed as it comes
    (strptime, int). Returns the table and how many non-blank lines it lost (no match)."""
    columns: list[list] = [[] for _ in ATHENA_COLUMNS]
    lost = 0
    match = ATHENA_REGEX.match
    for line in data.splitlines():
        m = match(line)
        if not m:
            lost += line.strip() != b""
            continue
        for i, v in enumerate(m.groups()):
            if i == 2:
                columns[i].append(datetime.strptime(v.decode(), "%d/%b/%Y:%H:%M:%S %z"))
            elif i in _INTS:
                try:
                    columns[i].append(_int(v))
                except ValueError:
                    columns[i].append(None)
            else:
                columns[i].append(None if v is None else v.decode("utf-8", "replace"))
    return pa.table(dict(zip(ATHENA_COLUMNS, columns))), lost


def parse_with_re_arrow_typed(data: bytes) -> tuple[pa.Table, int]:
    """A stronger baseline: Python `re` splits the lines, Arrow types the columns at once."""
    rows = []
    lost = 0
    match = ATHENA_REGEX.match
    for line in data.splitlines():
        m = match(line)
        if m:
            rows.append(m.groups())
        else:
            lost += line.strip() != b""
    columns = {}
    for i, name in enumerate(ATHENA_COLUMNS):
        col = pc.cast(pa.array([r[i] for r in rows], pa.binary()),
                      options=pc.CastOptions(pa.string(), allow_invalid_utf8=True))
        if i == 2:
            col = pc.strptime(col, format="%d/%b/%Y:%H:%M:%S %z", unit="s", error_is_null=True)
        elif i in _INTS:
            col = pc.if_else(pc.equal(col, "-"), None, col).cast(pa.int64())
        columns[name] = col
    return pa.table(columns), lost
