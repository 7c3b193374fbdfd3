"""Filesystems for log sources and the lake: S3 (or any S3-compatible endpoint) through
s3fs, or a local folder, both behind fsspec, with every request counted."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import fsspec
from fsspec.asyn import sync
from fsspec.implementations.local import LocalFileSystem


@dataclass
class RequestCounts:
    """Requests a run made: LIST and GET against sources, PUT and DELETE against the lake.
    On S3 every HTTP attempt counts, retries included."""

    counts: Counter = field(default_factory=Counter)

    def add(self, kind: str, n: int = 1) -> None:
        self.counts[kind] += n

    def __getitem__(self, kind: str) -> int:
        return self.counts[kind]

    def as_dict(self) -> dict[str, int]:
        return {k: self.counts[k] for k in ("LIST", "GET", "PUT", "DELETE")}


_S3_KINDS = {"ListObjectsV2": "LIST", "ListObjects": "LIST", "GetObject": "GET",
             "PutObject": "PUT", "CreateMultipartUpload": "PUT", "DeleteObject": "DELETE",
             "DeleteObjects": "DELETE", "CopyObject": "PUT"}


@dataclass
class Location:
    """A URL resolved to a filesystem and a path inside it (no trailing slash handling:
    an S3 prefix is a string prefix, not necessarily a folder)."""

    url: str
    fs: fsspec.AbstractFileSystem
    path: str          # bucket/prefix for S3, absolute path for local
    counts: RequestCounts

    @property
    def is_s3(self) -> bool:
        return not isinstance(self.fs, LocalFileSystem)

    def count_local(self, kind: str, n: int = 1) -> None:
        """Count a request on a local folder (on S3 the client's own hook counts them)."""
        if not self.is_s3:
            self.counts.add(kind, n)

    def join(self, *parts: str) -> str:
        return "/".join([self.path.rstrip("/"), *parts])

    def display(self, path: str) -> str:
        """A path inside this filesystem as a URL a user can paste."""
        return f"s3://{path}" if self.is_s3 else path


def endpoint_url(explicit: str | None = None) -> str | None:
    return explicit or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
        "AWS_ENDPOINT_URL") or None


def s3_filesystem(endpoint: str | None = None, counts: RequestCounts | None = None):
    """A private s3fs instance (no instance or listing cache: runs must see new objects),
    fetching each object with one GET (max_concurrency=1 skips s3fs's HEAD-then-ranges)."""
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=endpoint_url(endpoint), skip_instance_cache=True,
                           use_listings_cache=False, max_concurrency=1,
                           config_kwargs={"retries": {"max_attempts": 3, "mode": "standard"}})
    fs.retries = 6  # s3fs's own backoff on SlowDown, on top of botocore's
    if counts is not None:
        client = sync(fs.loop, fs.set_session)

        def count(event_name: str, **_) -> None:
            kind = _S3_KINDS.get(event_name.rsplit(".", 1)[-1])
            if kind:
                counts.add(kind)

        client.meta.events.register("before-send.s3", count)
    return fs


def resolve(url: str, endpoint: str | None = None) -> Location:
    """`s3://bucket/prefix`, `file:///path` or a plain path -> Location."""
    counts = RequestCounts()
    if url.startswith("s3://"):
        return Location(url, s3_filesystem(endpoint, counts), url[len("s3://"):], counts)
    if "://" in url and not url.startswith("file://"):
        raise ValueError(f"{url}: only s3:// URLs and local paths are supported")
    return Location(url, LocalFileSystem(), canonical_url(url), counts)


def canonical_url(url: str) -> str:
    """One spelling per place: a local path made absolute, `..` and links resolved, with a
    trailing slash when it is a folder (so `logs/`, `/abs/logs` and `x/../logs` are one
    source). An s3:// URL is kept as given: there `logs` and `logs/` are other prefixes."""
    if url.startswith("s3://"):
        return url
    path = url[len("file://"):] if url.startswith("file://") else url
    absolute = os.path.realpath(os.path.expanduser(path))
    if (path.endswith("/") or os.path.isdir(absolute)) and not absolute.endswith("/"):
        absolute += "/"  # a folder, even when named without its slash
    return absolute


def aws_clients(endpoint: str | None = None):
    """boto3 S3 and STS clients (logging setup, lifecycle rules), at `endpoint` if given;
    otherwise boto3 reads AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL_STS itself."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint), boto3.client("sts", endpoint_url=endpoint)
