"""Log sources: where S3 delivered log objects, and listing one day of them cheaply.

A source is `s3://target-bucket/prefix` or a local folder. Listing a day costs LIST
requests in proportion to that day's objects, never to the whole bucket: SimplePrefix keys
start with the delivery date, so the day is a key prefix (`prefix2026-11-24-`); with
PartitionedPrefix the source buckets are discovered once per run (one delimiter listing per
level) and each day is a folder (`prefix/acct/region/bucket/2026/11/24/`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property

from pipelines.ingestion import layout as L
from pipelines.lake.storage import Location, canonical_url, resolve


@dataclass(frozen=True)
class ObjectInfo:
    path: str            # path inside the source filesystem
    url: str             # what records carry as source_key
    size: int
    etag: str
    last_modified: str

    @property
    def fingerprint(self) -> tuple[int, str]:
        return self.size, self.etag


@dataclass(frozen=True)
class Skipped:
    """An entry of a local source that was not read, and why: the run report names it."""

    path: str
    reason: str


@dataclass
class DayListing:
    day: date
    objects: list[ObjectInfo] = field(default_factory=list)
    unrecognized: list[str] = field(default_factory=list)  # keys in neither layout
    skipped: list[Skipped] = field(default_factory=list)   # local entries not read


def source_id(url: str) -> str:
    """Stable short name of a source in lake paths: its URL's hash (URLs can hold any
    character, so they never become paths themselves)."""
    return hashlib.sha256(url.rstrip("/").encode()).hexdigest()[:16]


class LogSource:
    """One log source. `layout` is "auto" (detected from a sample of keys), "simple" or
    "partitioned"; `partition_date_source` is detected with it or set explicitly."""

    def __init__(self, url: str, layout: str = "auto", partition_date_source: str | None = None,
                 endpoint: str | None = None) -> None:
        self.url = canonical_url(url)  # one source, however it is spelled
        self.loc: Location = resolve(url, endpoint)
        self._layout = None if layout == "auto" else layout
        self._date_source = partition_date_source
        if self._layout not in (None, L.SIMPLE, L.PARTITIONED):
            raise ValueError(f"layout must be auto, simple or partitioned, not {layout!r}")

    @property
    def id(self) -> str:
        return source_id(self.url)

    @property
    def counts(self):
        return self.loc.counts

    @cached_property
    def layout(self) -> L.KeyLayout:
        if self._layout == L.SIMPLE:
            return L.KeyLayout(L.SIMPLE)
        sample = [p[len(self.loc.path):] for p, *_ in self._list(self.loc.path, max_keys=200)]
        if self._layout == L.PARTITIONED:
            detected = L.detect(sample).date_source if sample else L.EVENT_TIME
            return L.KeyLayout(L.PARTITIONED, self._date_source or detected)
        if not sample:
            raise ValueError(f"{self.url}: no log objects found, so the key layout cannot be "
                             "detected; check the URL or set the layout explicitly")
        found = L.detect(sample)
        return L.KeyLayout(found.kind, self._date_source or found.date_source)

    def list_day(self, day: date, after: dict[str, str] | None = None) -> DayListing:
        """Log objects filed under `day` (delivery day, or event day for EventTime).

        `after` maps a day prefix to a key: only keys after it are listed there
        (ListObjectsV2 StartAfter), so re-checking a day costs pages for what is new."""
        listing = DayListing(day)
        for prefix in self.day_prefixes(day):
            start_after = (after or {}).get(prefix)
            for path, size, etag, modified in self._list(prefix, start_after=start_after,
                                                         skipped=listing.skipped):
                key = L.parse_key(path[len(self.loc.path):])
                if key is None or key.day != day:
                    listing.unrecognized.append(self.loc.display(path))
                    continue
                listing.objects.append(ObjectInfo(path, self.loc.display(path), size, etag,
                                                  modified))
        return listing

    def new_objects(self, cursor: dict[str, str], since: date, max_pages: int = 5
                    ) -> tuple[list[tuple[date, ObjectInfo]], dict[str, str]]:
        """Objects after the cursor (per listing root, the last key seen), at most
        `max_pages` pages per root, with the day each is filed under; and the new cursor.

        For sensors: bounded work per call, the cursor carries the rest to the next call;
        a root not in the cursor yet is read from the objects filed under `since` on.
        With EventTime, late objects land in old day folders, before the cursor: the daily
        re-check of trailing days picks those up."""
        roots = [self.loc.path] if self.layout.simple else self._bucket_roots
        found, new_cursor = [], dict(cursor)
        for root in roots:
            after = cursor.get(root)
            if after is None:  # sorts just before the first key filed under `since`
                after = root + (f"{since:%Y-%m-%d}" if self.layout.simple
                                else f"{since:%Y/%m/%d}")
            last = None
            for path, size, etag, modified in self._list(root, start_after=after,
                                                         max_keys=1000 * max_pages):
                last = path
                key = L.parse_key(path[len(self.loc.path):])
                if key:
                    found.append((key.day, ObjectInfo(path, self.loc.display(path), size, etag,
                                                      modified)))
            if last:
                new_cursor[root] = last
        return found, new_cursor

    def day_prefixes(self, day: date) -> list[str]:
        if self.layout.simple:
            return [self.loc.path + f"{day:%Y-%m-%d}-"]
        return [root + f"{day:%Y/%m/%d}/" for root in self._bucket_roots]

    @cached_property
    def _bucket_roots(self) -> list[str]:
        """`prefix/account/region/bucket/` folders (PartitionedPrefix), one level at a time."""
        roots = [self.loc.path]
        for _ in ("account", "region", "bucket"):
            roots = [p for root in roots for p in self._folders(root)]
        return roots

    # Listing primitives: S3 ListObjectsV2 pages, or a folder walk with the same semantics.

    def _folders(self, prefix: str) -> list[str]:
        if self.loc.is_s3:
            bucket, key_prefix = _split(prefix)
            folders = []
            for page in self._pages(bucket, key_prefix, Delimiter="/"):
                folders += [f"{bucket}/{p['Prefix']}" for p in page.get("CommonPrefixes", [])]
            return folders
        self.loc.count_local("LIST")
        base = prefix if prefix.endswith("/") else os.path.dirname(prefix) + "/"
        return sorted(base + e.name + "/" for e in _entries(base, [])
                      if e.is_dir(follow_symlinks=False) and (base + e.name).startswith(prefix))

    def _list(self, prefix: str, max_keys: int | None = None, start_after: str | None = None,
              skipped: list[Skipped] | None = None) -> Iterator[tuple[str, int, str, str]]:
        """(path, size, etag, last modified) of every object whose path starts with
        `prefix` (and sorts after `start_after`), in key order. Local entries that are not
        read (links, unreadable folders) are added to `skipped`."""
        if self.loc.is_s3:
            bucket, key_prefix = _split(prefix)
            extra = {"StartAfter": _split(start_after)[1]} if start_after else {}
            seen = 0
            for page in self._pages(bucket, key_prefix, max_keys=min(max_keys or 1000, 1000),
                                    **extra):
                for o in page.get("Contents", []):
                    yield (f"{bucket}/{o['Key']}", o["Size"], o["ETag"].strip('"'),
                           o["LastModified"].astimezone(UTC).isoformat())
                seen += len(page.get("Contents", []))
                if max_keys and seen >= max_keys:
                    return
            return
        yield from _walk_local(prefix, self.loc, max_keys, start_after,
                               [] if skipped is None else skipped)

    def _pages(self, bucket: str, prefix: str, max_keys: int | None = None,
               **kwargs) -> Iterator[dict]:
        token = None
        while True:
            args = dict(Bucket=bucket, Prefix=prefix, MaxKeys=max_keys or 1000, **kwargs)
            if token:
                args["ContinuationToken"] = token
            page = self.loc.fs.call_s3("list_objects_v2", **args)
            yield page
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return


def _split(path: str) -> tuple[str, str]:
    bucket, _, key = path.partition("/")
    return bucket, key


LINK = "a symbolic link, not followed: it may point anywhere (a loop, /etc/passwd)"


def _entries(folder: str, skipped: list[Skipped]) -> list[os.DirEntry]:
    """The folder's entries, or none (named in `skipped`) when it cannot be read: one bad
    folder never stops the rest of a source."""
    try:
        with os.scandir(folder) as it:
            return list(it)
    except FileNotFoundError:
        return []
    except OSError as e:
        skipped.append(Skipped(folder, f"cannot be read: {e.strerror or e}"))
        return []


def _walk_local(prefix: str, loc: Location, max_keys: int | None,
                start_after: str | None, skipped: list[Skipped]
                ) -> Iterator[tuple[str, int, str, str]]:
    """Files under `prefix` in key order, as S3 would list them. Links are never followed,
    to files or folders: a source is the folder S3's logs were copied into, and a link in
    it is not a log object S3 wrote. Each link, unreadable entry or special file (a FIFO
    would block) is named in `skipped` instead."""
    base = prefix if prefix.endswith("/") else os.path.dirname(prefix) + "/"
    found = 0
    stack = [base]
    while stack:
        folder = stack.pop()
        loc.count_local("LIST")
        files, folders = [], []
        for e in sorted(_entries(folder, skipped), key=lambda e: e.name):
            path = folder + e.name
            inside = path.startswith(prefix)
            try:
                if e.is_symlink():
                    if inside:
                        skipped.append(Skipped(path, LINK))
                elif e.is_dir(follow_symlinks=False):
                    if (path + "/").startswith(prefix) or prefix.startswith(path + "/"):
                        folders.append(path + "/")
                elif (inside and not e.name.startswith(".")  # hidden: a copy in progress
                      and (start_after is None or path > start_after)):
                    if e.is_file(follow_symlinks=False):
                        files.append((path, e.stat(follow_symlinks=False)))
                    else:
                        skipped.append(Skipped(path, "not a regular file"))
            except OSError as err:
                skipped.append(Skipped(path, f"cannot be read: {err.strerror or err}"))
        stack.extend(reversed(folders))  # popped in key order, after this folder's files
        for path, st in files:
            modified = datetime.fromtimestamp(st.st_mtime, UTC).isoformat()
            yield path, st.st_size, f"{st.st_size:x}-{st.st_mtime_ns:x}", modified
            found += 1
            if max_keys and found >= max_keys:
                return
