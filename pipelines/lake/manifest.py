"""What the lake knows it has ingested, as typed records.

A unit is what one ingestion commits at once: one source's log objects filed under one
day. Its manifest lists each object ingested, with what identifies its content (size,
ETag) and what it produced (records, rejects, the partitions it fed), and names the
staging files that hold the unit's rows for each folder it feeds. Manifests are versioned
and never rewritten: a new version is a new file, created only if no one created it
first, which is how runs commit without locks (pipelines.ingestion.units).

Each staging file's size and row count are recorded beside its name (`staging_files`), so
a run can tell a deleted or truncated one from the listing it makes anyway; manifests
written before they were recorded still name their files, and those are checked for
presence only until a commit rewrites them (their content is checked when read).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.ingestion.layout import KeyLayout


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


@dataclass(frozen=True)
class StagingFacts:
    """What a staging file held when it was written: a file of another size, or that
    reads as other rows, was damaged since."""

    size: int
    rows: int

    def as_json(self) -> dict:
        return {"size": self.size, "rows": self.rows}

    @staticmethod
    def from_json(d: dict) -> StagingFacts:
        return StagingFacts(_int(d["size"]), _int(d["rows"]))


@dataclass(frozen=True)
class Staged:
    """A staging file just written: its name and what it holds."""

    name: str
    facts: StagingFacts


class ManifestShapeError(ValueError):
    """A manifest's JSON is not the shape this version writes (the reader names the
    file)."""


def _int(v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ManifestShapeError(f"{v!r} is not a count")
    return v


def _str(v) -> str:
    if not isinstance(v, str):
        raise ManifestShapeError(f"{v!r} is not text")
    return v


def _dict(v) -> dict:
    if not isinstance(v, dict):
        raise ManifestShapeError(f"{type(v).__name__} where an object was expected")
    return v


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
        d = _dict(d)
        problem = d.get("problem")
        return ManifestEntry(_int(d["size"]), _str(d["etag"]), _str(d["last_modified"]),
                             _int(d["records"]), _int(d["rejects"]), _int(d["lines"]),
                             {PartitionKey(_str(dt), _str(b)) for dt, b in d["partitions"]},
                             None if problem is None else _str(problem))


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
    # Target.path -> what its staging file holds (absent for files staged before it was
    # recorded: those are checked for presence only)
    facts: dict[str, StagingFacts] = field(default_factory=dict)

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
                "staging_files": {t: f.as_json() for t, f in sorted(self.facts.items())
                                  if t in self.staging},
                "totals": self.totals}

    def set_staged(self, target: str, staged: Staged | None) -> None:
        """Name `target`'s new staging file (None: the unit no longer feeds it)."""
        if staged is None:
            self.staging.pop(target, None)
            self.facts.pop(target, None)
        else:
            self.staging[target] = staged.name
            self.facts[target] = staged.facts

    @staticmethod
    def from_json(d: dict) -> Manifest:
        """A manifest as written by this version or an earlier one (which had no versions,
        no staging, or no `staging_files`); ManifestShapeError (or KeyError, TypeError,
        ValueError) when it is not one."""
        feeds = Feeds.from_json(d)
        kind, date_source = d["layout"]
        return Manifest(feeds.source, _str(d["day"]),
                        KeyLayout(_str(kind), None if date_source is None else
                                  _str(date_source)),
                        {_str(u): ManifestEntry.from_json(e)
                         for u, e in _dict(d["objects"]).items()},
                        feeds.version, _str(d.get("run", "")), dict(feeds.staging),
                        [_str(t) for t in d.get("dropped", [])], dict(feeds.facts))


@dataclass(frozen=True)
class Feeds:
    """What a rebuild needs of a unit's manifest: the staging file it names for each
    folder, and what that file held. A manifest holds an entry per log object (about
    1 KB each in memory), and a rebuild of many days keeps one per unit for a pass: the
    entries would cost more than the rows being sorted."""

    source: str
    version: int
    staging: dict[str, str]
    facts: dict[str, StagingFacts]

    @staticmethod
    def from_json(d: dict) -> Feeds:
        """The part of a manifest's JSON a rebuild reads, checked as `Manifest.from_json`
        checks it."""
        d = _dict(d)
        _str(d["day"]), _dict(d["objects"]), d["layout"]  # a manifest's shape, not read
        staging = {_str(t): _str(n) for t, n in _dict(d.get("staging", {})).items()}
        facts = {_str(t): StagingFacts.from_json(_dict(f))
                 for t, f in _dict(d.get("staging_files", {})).items() if t in staging}
        return Feeds(_str(d["source"]), _int(d.get("version", 0)), staging, facts)
