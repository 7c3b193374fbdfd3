"""The exact, one-line-at-a-time parser: the reference semantics of the format.

S3 does not escape quotes inside quoted fields and does not quote requesters that contain
spaces (CloudFront origin access identities), so a line cannot be tokenised by a regular
grammar. This parser enumerates every way the line's fields could be placed (where the
requester ends, which quote closes each quoted field), keeps the placements whose every
field has a valid shape, and accepts the line only if exactly one remains. A line with no
valid placement or with several is rejected with a reason: ambiguity is never resolved by
guessing.

The vectorised parser (`parse_vector`) handles the regular lines of a chunk at columnar
speed and hands every other line here, so both must agree; tests hold them to it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from xxhash import xxh3_128_digest as record_id

from pipelines.ingestion.layout import bucket_name_problem
from pipelines.parsing.logformat import (
    FIELDS,
    INT_FIELDS,
    KNOWN_FIELD_COUNTS,
    MAX_FIELD_COUNT,
    N_FIELDS,
    OPERATION_RE,
    POS,
    QUOTED_POS,
)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTH_NUMBER = {m: i + 1 for i, m in enumerate(MONTHS)}
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_PREFIX = re.compile(r"([^ ]+) ([^ ]+) \[([^\]]*)\] ([^ ]+) ")
_TIME = re.compile(r"([0-9]{2})/([A-Za-z]{3})/([0-9]{4}):([0-9]{2}):([0-9]{2}):([0-9]{2}) "
                   r"([+-])([0-9]{2})([0-9]{2})")
_OPERATION = re.compile(OPERATION_RE)
_SHAPES = [(i, f.name, re.compile(f.shape)) for i, f in enumerate(FIELDS) if f.shape]
_INT_POS = {name: i for i, name in enumerate(f.name for f in FIELDS) if name in INT_FIELDS}
# A closing quote, a space and the start of a quoted or bare-dash field: always a boundary,
# never the inside of a quoted field (else a truncated line could be read with shifted fields).
_BOUNDARY = re.compile(r'" (?:"|-(?: |$))')
_MAX_REQUESTER_WORDS = 12  # CloudFront OAI requesters have 5; anything longer is not a requester
_MAX_PLACEMENTS = 64
_BUCKET = POS["bucket"]


class LineRejected(ValueError):
    """The line's fields cannot be placed with confidence; the message is the reason."""


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def parse_time(text: str) -> datetime:
    """`06/Feb/2019:00:00:38 +0000` -> aware UTC datetime; strict about every component."""
    m = _TIME.fullmatch(text)
    if not m:
        raise LineRejected(f"time [{text}] is not dd/Mon/yyyy:HH:MM:SS +zzzz")
    day, mon, year, hh, mi, ss, sign, zh, zm = m.groups()
    month = _MONTH_NUMBER.get(mon)
    d, y = int(day), int(year)
    if month is None:
        raise LineRejected(f"time [{text}] has an unknown month {mon!r}")
    last = 29 if month == 2 and is_leap(y) else _DAYS_IN_MONTH[month - 1]
    if not (1 <= d <= last and int(hh) < 24 and int(mi) < 60 and int(ss) < 60
            and int(zh) < 24 and int(zm) < 60 and y >= 1):
        raise LineRejected(f"time [{text}] is out of range")
    offset = (int(zh) * 60 + int(zm)) * (1 if sign == "+" else -1)
    local = datetime(y, month, d, int(hh), int(mi), int(ss), tzinfo=UTC)
    try:
        return local - timedelta(minutes=offset)
    except OverflowError:  # its offset takes it before year 1 or after 9999
        raise LineRejected(f"time [{text}] is out of range") from None


def _quoted_ends(s: str, start: int, last_field: bool) -> list[int]:
    """Indexes of the quotes that could close a quoted field opened at `start`."""
    ends = []
    i = s.find('"', start + 1)
    while i != -1:
        nxt = i + 1
        if (nxt < len(s) and s[nxt] == " ") or (last_field and nxt == len(s)):
            ends.append(i)
        i = s.find('"', nxt)
    return ends


def _field_at(s: str, pos: int, last_field: bool) -> list[tuple[str, int]]:
    """Possible (value, next_position) for a quoted-or-dash field starting at `pos`."""
    if s.startswith("-", pos) and (pos + 1 == len(s) or s[pos + 1] == " "):
        return [("-", pos + 2)]
    if s.startswith('"', pos):
        return [(s[pos + 1:end], end + 2) for end in _quoted_ends(s, pos, last_field)]
    return []


def _placements(text: str) -> tuple[list[list[str]], str]:
    """All structurally possible field lists for the line, and why there are none if so."""
    m = _PREFIX.match(text)
    if not m:
        return [], "line does not start with owner, bucket, [time] and remote IP"
    head = list(m.groups())
    words = text[m.end():].split(" ")
    found: list[list[str]] = []
    reasons: list[str] = []  # the first is the most plausible reading's failure
    for op_at in range(2, min(len(words) - 1, _MAX_REQUESTER_WORDS + 2)):
        if not _OPERATION.fullmatch(words[op_at]):
            continue
        requester = words[:op_at - 1]
        if "" in requester or not words[op_at - 1] or not words[op_at + 1]:
            reasons.append("empty field (two spaces in a row)")
            continue
        fixed = head + [" ".join(requester), words[op_at - 1], words[op_at], words[op_at + 1]]
        rest = " ".join(words[op_at + 2:])
        uris = _field_at(rest, 0, False)
        if not uris:
            reasons.append("request URI is neither quoted nor -")
        for uri, pos in uris:
            middle = rest[pos:].split(" ", 6)
            if len(middle) < 7:
                reasons.append("line ends before referer and user agent (truncated?)")
                continue
            if "" in middle[:6]:
                reasons.append("empty field (two spaces in a row)")
                continue
            mid_pos = len(rest) - len(middle[6])
            refs = _field_at(rest, mid_pos, False)
            if not refs:
                reasons.append("referer is neither quoted nor -")
            for ref, pos2 in refs:
                uas = _field_at(rest, pos2, True)
                if not uas:
                    reasons.append("user agent is neither quoted nor -")
                for ua, pos3 in uas:
                    tail = rest[pos3:].split(" ") if pos3 < len(rest) else []
                    found.append(fixed + [uri] + middle[:6] + [ref, ua] + tail)
                    if len(found) > _MAX_PLACEMENTS:
                        return [], "too many unescaped quotes to place fields"
    return found, (reasons or ["no operation (e.g. REST.GET.OBJECT) after requester and "
                               "request ID"])[0]


def validate(fields: list[str]) -> None:
    """Raise LineRejected unless every field has the shape its position demands."""
    n = len(fields)
    if n > MAX_FIELD_COUNT:
        raise LineRejected(f"{n} fields: more than {MAX_FIELD_COUNT}, so not a log record")
    if n < N_FIELDS and n not in KNOWN_FIELD_COUNTS:
        raise LineRejected(f"{n} fields: not a known record layout (17, 18, 24-27 or more); "
                           "truncated?")
    if "" in fields[N_FIELDS:] or any(
            not fields[i] for i in range(min(n, N_FIELDS)) if i not in QUOTED_POS):
        raise LineRejected("empty field (two spaces in a row)")
    for i in QUOTED_POS:
        if i < n and _BOUNDARY.search(fields[i]):
            raise LineRejected(f"{FIELDS[i].name} would contain a field boundary (\" \")")
    for i, name, shape in _SHAPES:
        if i < n and fields[i] != "-" and not shape.fullmatch(fields[i]):
            raise LineRejected(f"{name} {fields[i][:60]!r} is not a valid {name}")
    problem = bucket_name_problem(None if fields[_BUCKET] == "-" else fields[_BUCKET])
    if problem:  # it would become a lake folder: never a path unchecked
        raise LineRejected(problem)
    parse_time(fields[POS["request_time"]])


def _simplicity(fields: list[str]) -> tuple[int, int]:
    """Lower is simpler: quotes inside quoted fields, then words in the requester."""
    return sum(fields[i].count('"') for i in QUOTED_POS), fields[POS["requester"]].count(" ")


def split_fields(text: str) -> list[str]:
    """The raw field strings of one line (quotes removed, `-` kept), or LineRejected.

    Of the placements whose every field has a valid shape, the simplest wins (fewest quotes
    inside quoted fields, then fewest requester words). If the two simplest tie, the line is
    ambiguous and rejected.
    """
    candidates, reason = _placements(text)
    valid, first_error = [], None
    for fields in candidates:
        try:
            validate(fields)
            valid.append((_simplicity(fields), fields))
        except LineRejected as e:
            # the message, not the exception: kept in this frame, which its traceback
            # holds, it would make a cycle that keeps the caller's chunk alive until a
            # full garbage collection
            first_error = first_error or str(e)
    if not valid:
        raise LineRejected(first_error or reason)
    valid.sort(key=lambda v: v[0])
    if len(valid) > 1 and valid[0][0] == valid[1][0]:
        raise LineRejected("ambiguous: the fields can be placed in two equally simple ways "
                           "(unescaped quotes or spaces)")
    return valid[0][1]


def typed_values(fields: list[str]) -> list:
    """Raw field strings -> Python values in RECORD order (27 fields then extra_fields)."""
    out: list = []
    for i, f in enumerate(FIELDS):
        raw = fields[i] if i < len(fields) else None
        if f.name == "request_time":
            out.append(parse_time(raw))
        elif f.name == "acl_required":
            out.append(None if raw is None else raw == "Yes")
        elif f.name == "bytes_sent":
            out.append(None if raw is None else (0 if raw == "-" else int(raw)))
        elif raw is None or raw == "-":
            out.append(None)
        elif f.name in _INT_POS:
            out.append(int(raw))
        else:
            out.append(raw)
    out.append(fields[N_FIELDS:])
    return out


def decode(raw: bytes) -> tuple[str, bool]:
    """Bytes -> text. Invalid UTF-8 sequences become U+FFFD (the rest is kept), flagged."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


def parse_line(raw: bytes) -> list:
    """One raw line (no line ending) -> its values in RECORD_SCHEMA order, except
    source_key and line_number (None), or LineRejected."""
    text, repaired = decode(raw)
    fields = split_fields(text.rstrip(" \t\r"))
    return typed_values(fields) + [len(fields), None, None, repaired, record_id(raw)]
