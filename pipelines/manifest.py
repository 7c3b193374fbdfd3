"""What the lake knows it has ingested, as typed records.

A unit is what one ingestion commits at once: one source's log objects filed under one
day. Its manifest lists each object ingested, with what identifies its content (size,
ETag) and what it produced (records, rejects, the partitions it fed), and names the
staging files that hold the unit's rows for each folder it feeds. Manifests are versioned
and never rewritten: a new version is a new file, created only if no one created it
first, which is how runs commit without locks (pipelines.units).
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


@dataclass(frozen=True, order=True)
class Unit:
    """One source's log objects filed under one day: what a run commits at once."""

    source_id: str
    day: str

    @property
    def path(self) -> str:
        return f"source={self.source_id}/day={self.day}"


@dataclass(frozen=True, order=True)
class Target:
    """A folder readers see, rebuilt from the staging files of the units that feed it:
    a records partition, or a unit's quarantine."""

    table: str          # access_logs | quarantine
    folder: str         # dt=.../bucket=...  or  dt=.../source=...

    @property
    def path(self) -> str:
        return f"{self.table}/{self.folder}"

    @staticmethod
    def records(key: PartitionKey) -> Target:
        return Target("access_logs", key.path)

    @staticmethod
    def quarantine(unit: Unit) -> Target:
        return Target("quarantine", f"dt={unit.day}/source={unit.source_id}")


@dataclass
class ManifestEntry:
    size: int
    etag: str
    last_modified: str
    records: int = 0
    rejects: int = 0
    lines: int = 0            # lines read: stored apart, so a manifest can be reconciled
    partitions: set[PartitionKey] = field(default_factory=set)
    problem: str | None = None  # set when the object as a whole went to quarantine

    @property
    def fingerprint(self) -> tuple[int, str]:
        return self.size, self.etag

    def as_json(self) -> dict:
        out = {"size": self.size, "etag": self.etag, "last_modified": self.last_modified,
               "records": self.records, "rejects": self.rejects, "lines": self.lines,
               "partitions": [[p.dt, p.bucket] for p in sorted(self.partitions)]}
        return out | ({"problem": self.problem} if self.problem else {})

    @staticmethod
    def from_json(d: dict) -> ManifestEntry:
        return ManifestEntry(d["size"], d["etag"], d["last_modified"], d["records"],
                             d["rejects"], d["lines"],
                             {PartitionKey(*p) for p in d["partitions"]}, d.get("problem"))


@dataclass
class Manifest:
    source: str                # the source URL
    day: str
    layout: KeyLayout
    objects: dict[str, ManifestEntry] = field(default_factory=dict)
    version: int = 0           # 0: nothing committed yet
    run: str = ""              # the run that committed this version
    staging: dict[str, str] = field(default_factory=dict)  # Target.path -> staging file
    dropped: list[str] = field(default_factory=list)  # targets the previous version fed

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

    def targets(self) -> set[Target]:
        """The folders it feeds, and those its previous version fed but it no longer does
        (a run killed before rebuilding them leaves them for the next run to check)."""
        return {Target(*t.split("/", 1)) for t in [*self.staging, *self.dropped]}

    def as_json(self) -> dict:
        return {"source": self.source, "day": self.day, "version": self.version,
                "run": self.run, "layout": [self.layout.kind, self.layout.date_source],
                "objects": {u: e.as_json() for u, e in sorted(self.objects.items())},
                "staging": dict(sorted(self.staging.items())), "dropped": self.dropped,
                "totals": self.totals}

    @staticmethod
    def from_json(d: dict) -> Manifest:
        return Manifest(d["source"], d["day"], KeyLayout(*d["layout"]),
                        {u: ManifestEntry.from_json(e) for u, e in d["objects"].items()},
                        d.get("version", 0), d.get("run", ""), d.get("staging", {}),
                        d.get("dropped", []))
