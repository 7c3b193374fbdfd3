"""The two key layouts AWS writes log objects under, and what a key tells about its object.

SimplePrefix:      [prefix]YYYY-mm-DD-HH-MM-SS-UniqueString            (delivery time)
PartitionedPrefix: [prefix]Account/Region/SourceBucket/YYYY/MM/DD/YYYY-MM-DD-hh-mm-ss-Unique
                   with PartitionDateSource EventTime (the day the events happened; the
                   time is 00-00-00) or DeliveryTime (the day the object was delivered).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

SIMPLE = "simple"
PARTITIONED = "partitioned"
EVENT_TIME = "EventTime"
DELIVERY_TIME = "DeliveryTime"

_STAMP = r"(\d{4})-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-([A-Za-z0-9]+)"
_SIMPLE_RE = re.compile(_STAMP + "$")
_PARTITIONED_RE = re.compile(r"(\d{12})/([a-z]{2}(?:-[a-z]+)+-\d+)/([^/]+)/(\d{4})/(\d\d)/(\d\d)/"
                             + _STAMP + "$")


@dataclass(frozen=True)
class KeyLayout:
    """How a source names its log objects: SIMPLE, or PARTITIONED with the date source
    (EVENT_TIME or DELIVERY_TIME) that decides which day folder an object is filed under."""

    kind: str
    date_source: str | None = None

    @property
    def simple(self) -> bool:
        return self.kind == SIMPLE

    @property
    def time_sorted(self) -> bool:
        """Keys sort by delivery time (SimplePrefix, or PartitionedPrefix by DeliveryTime).
        With EventTime every key of a day reads 00-00-00 and sorts by its random suffix."""
        return self.date_source != EVENT_TIME


@dataclass(frozen=True)
class LogKey:
    """What the name of a log object says (the part after the source prefix)."""

    layout: str
    day: date                     # the day the object is filed under
    midnight_stamp: bool          # hh-mm-ss all zero: the EventTime signature
    account: str | None = None    # PartitionedPrefix only
    region: str | None = None
    source_bucket: str | None = None


def parse_key(rest: str) -> LogKey | None:
    """Parse a key relative to its source prefix; None if it matches neither layout."""
    m = _SIMPLE_RE.fullmatch(rest)
    if m:
        y, mo, d, hh, mi, ss, _ = m.groups()
        return _key(SIMPLE, y, mo, d, hh, mi, ss)
    m = _PARTITIONED_RE.fullmatch(rest)
    if m:
        account, region, bucket, py, pm, pd, y, mo, d, hh, mi, ss, _ = m.groups()
        key = _key(PARTITIONED, py, pm, pd, hh, mi, ss, account, region, bucket)
        if key and (y, mo, d) == (py, pm, pd):
            return key
    return None


def _key(layout: str, y: str, mo: str, d: str, hh: str, mi: str, ss: str,
         *extra: str) -> LogKey | None:
    try:
        day = date(int(y), int(mo), int(d))
    except ValueError:
        return None
    return LogKey(layout, day, (hh, mi, ss) == ("00", "00", "00"), *extra)


def detect(rests: list[str]) -> KeyLayout:
    """The layout (and partition date source) of a sample of keys relative to the prefix.

    EventTime is recognised by every sampled key carrying a 00-00-00 time."""
    keys = [k for k in map(parse_key, rests) if k]
    if not keys:
        raise ValueError("no log objects in a known key layout under this prefix "
                         f"(saw for example {rests[0]!r})")
    layouts = {k.layout for k in keys}
    if len(layouts) > 1:
        raise ValueError("both SimplePrefix and PartitionedPrefix keys under one prefix; "
                         "configure the layout explicitly")
    if layouts.pop() == SIMPLE:
        return KeyLayout(SIMPLE)
    return KeyLayout(PARTITIONED, EVENT_TIME if all(k.midnight_stamp for k in keys)
                     else DELIVERY_TIME)


MAX_BUCKET_FOLDER_NAME = 255 - len("bucket=")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_LEGACY_BUCKET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]")
_IP_RE = re.compile(r"\d+\.\d+\.\d+\.\d+")


def bucket_name_problem(name: str | None) -> str | None:
    """Why `name` cannot be a source bucket (and so a lake folder), or None if it can.

    Current S3 naming rules, plus the legacy us-east-1 names (upper case, underscores, up to
    255 characters) that old buckets still carry; those over 248 characters do not fit in a
    folder name with its `bucket=` (255 bytes at most). Nothing else reaches a path."""
    if not name:
        return "the record has no bucket name"
    if len(name.encode()) > MAX_BUCKET_FOLDER_NAME:
        return (f"bucket name of {len(name)} characters ({name[:40]!r}...) is longer than a "
                f"lake folder name allows ({MAX_BUCKET_FOLDER_NAME})")
    if _BUCKET_RE.fullmatch(name) or _LEGACY_BUCKET_RE.fullmatch(name):
        if ".." in name or _IP_RE.fullmatch(name):
            return f"bucket name {name[:80]!r} breaks S3 naming rules (.. or an IP address)"
        return None
    return f"bucket name {name[:80]!r} breaks S3 naming rules; it cannot become a lake path"
