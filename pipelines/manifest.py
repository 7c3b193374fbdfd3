"""What the lake knows it has ingested: one manifest per (source, day), as typed records.

A manifest lists each log object of the day that was ingested, with what identifies its
content (size, ETag) and what it produced (records, rejects, the partitions it fed). Its
JSON form is a stable contract (lakes written before keep working); these types are how the
code handles it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .layout import KeyLayout


@dataclass(frozen=True, order=True)
class PartitionKey:
    """A partition of the lake's records: UTC event day and source bucket."""

    dt: str
    bucket: str

    @property
    def path(self) -> str:
        return f"dt={self.dt}/bucket={self.bucket}"


@dataclass
class ManifestEntry:
    size: int
    etag: str
    last_modified: str
    records: int = 0
    rejects: int = 0
    lines: int = 0            # lines read: stored apart, so a manifest can be reconciled
    partitions: set[PartitionKey] = field(default_factory=set)

    @property
    def fingerprint(self) -> tuple[int, str]:
        return self.size, self.etag

    def as_json(self) -> dict:
        return {"size": self.size, "etag": self.etag, "last_modified": self.last_modified,
                "records": self.records, "rejects": self.rejects, "lines": self.lines,
                "partitions": [[p.dt, p.bucket] for p in sorted(self.partitions)]}

    @staticmethod
    def from_json(d: dict) -> ManifestEntry:
        return ManifestEntry(d["size"], d["etag"], d["last_modified"], d["records"],
                             d["rejects"], d["lines"], {PartitionKey(*p) for p in d["partitions"]})


@dataclass
class Manifest:
    source: str                # the source URL
    day: str
    layout: KeyLayout
    objects: dict[str, ManifestEntry] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, int]:
        entries = self.objects.values()
        return {"lines": sum(e.lines for e in entries),
                "records": sum(e.records for e in entries),
                "rejects": sum(e.rejects for e in entries),
                "size": sum(e.size for e in entries)}

    @property
    def balanced(self) -> bool:
        return all(e.lines == e.records + e.rejects for e in self.objects.values())

    def as_json(self) -> dict:
        return {"source": self.source, "day": self.day,
                "layout": [self.layout.kind, self.layout.date_source],
                "objects": {u: e.as_json() for u, e in sorted(self.objects.items())},
                "totals": self.totals}

    @staticmethod
    def from_json(d: dict) -> Manifest:
        return Manifest(d["source"], d["day"], KeyLayout(*d["layout"]),
                        {u: ManifestEntry.from_json(e) for u, e in d["objects"].items()})
