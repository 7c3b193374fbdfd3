"""Access policies as code: what access each bucket expects, in a YAML file.

```yaml
buckets:
  payments-prod:                 # a bucket name or a glob; the first entry that matches wins
    anonymous: deny              # deny | read | write | allow (default deny): read = a
                                 # public website; write = an anonymous drop box too
    principals: ["arn:aws:sts::111122223333:assumed-role/PaymentsApp/*"]  # ARN globs
    read_only: ["arn:aws:sts::111122223333:assumed-role/PaymentsETL/*"]   # may only read
    networks: ["10.0.0.0/8", "2001:db8::/32"]                             # CIDRs
    min_tls: "1.2"
suppressions:                    # findings kept visible, marked, never alerted
  - detection: new_network
    bucket: "data-*"             # globs; an absent key matches anything
    principal: "arn:aws:sts::111122223333:assumed-role/BackupRole"
    network: "10.30.0.0/16"
    reason: "backup hosts move between subnets"
    expires: 2027-03-31
severities:                      # a detection's severity, instead of detection_settings
  policy_network: high
```

The file becomes tables every DuckDB session holds (`policy_buckets`, `policy_principals`,
`policy_networks`, `policy_suppressions`, `policy_severities`, `threat_networks`), which the
security models join. A mistake stops the run with one sentence naming the file, the line
and the key: a policy silently ignored would report that everything is fine.

A file that would hurt to read is refused the same way, before it costs much, and its
networks are read strictly (pipelines.security.policy_file). Addresses are compared as
`ip_key` (pipelines.security.addresses).
"""

from __future__ import annotations

import csv
import fnmatch
import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import yaml

from pipelines.security.addresses import cidr_range, ip_key
from pipelines.security.policy_file import (
    MAX_POLICY_ROWS,
    PolicyError,
    PolicyReader,
    compose_policy,
    read_policy_text,
)
from pipelines.sql.catalog import load

SEVERITIES = ("info", "low", "medium", "high")
# What anonymous requests a bucket expects, from least to most: `allow` is kept from the
# first version of the file (any anonymous operation), though a public website wants `read`.
ANONYMOUS = ("deny", "read", "write", "allow")
_BUCKET_KEYS = {"anonymous", "principals", "read_only", "networks", "min_tls", "description"}
_SUPPRESSION_KEYS = {"detection", "bucket", "principal", "network", "reason", "expires"}


@dataclass(frozen=True)
class ConfigTable:
    """A table made from configuration (not the lake), as sessions and the warehouse hold
    it, with its documentation."""

    name: str
    schema: pa.Schema
    doc: str
    docs: dict[str, str]


def _t(name: str, doc: str, *cols: tuple[str, pa.DataType, str]) -> ConfigTable:
    return ConfigTable(name, pa.schema([(c, t) for c, t, _ in cols]), doc,
                       {c: d for c, _, d in cols})


_PATTERN = ("bucket_pattern", pa.string(), "The bucket name or glob the entry applies to.")
_POSITION = ("position", pa.int32(), "The entry's place in the file (the first match wins).")
_LO = ("lo", pa.string(), "First address of the range, as ip_key.")
_HI = ("hi", pa.string(), "Last address of the range, as ip_key.")
CONFIG_TABLES = {t.name: t for t in (
    _t("policy_buckets", "Each bucket entry of the access policy file (S3LOGS_POLICIES).",
       _PATTERN, _POSITION,
       ("anonymous", pa.string(), "deny, read (GET, HEAD, listings), write (reads and "
        "object uploads and deletes) or allow (any operation, configuration included): the "
        "anonymous access the bucket expects."),
       ("min_tls", pa.float64(), "Lowest TLS version allowed (null: not checked)."),
       ("has_principals", pa.bool_(), "Whether the entry lists its principals."),
       ("has_networks", pa.bool_(), "Whether the entry lists its networks.")),
    _t("policy_principals", "Principals (ARN globs) each bucket entry allows.", _PATTERN,
       _POSITION, ("principal", pa.string(), "ARN glob."),
       ("read_only", pa.bool_(), "The principal may only read (GET, HEAD, LIST).")),
    _t("policy_networks", "Networks (CIDRs) each bucket entry allows.", _PATTERN, _POSITION,
       ("cidr", pa.string(), "The CIDR as written."), _LO, _HI),
    _t("policy_suppressions", "Findings to mark as suppressed (never alerted), with why and "
       "until when.",
       ("position", pa.int32(), "The suppression's place in the file."),
       ("detection", pa.string(), "Detection name or glob (null: any)."),
       ("bucket_pattern", pa.string(), "Bucket glob (null: any)."),
       ("principal", pa.string(), "Principal glob (null: any)."),
       ("network", pa.string(), "CIDR (null: any address)."), _LO, _HI,
       ("reason", pa.string(), "Why the findings are expected."),
       ("expires", pa.date32(), "Last day the suppression applies.")),
    _t("policy_severities", "Severities the policy file sets for detections.",
       ("detection", pa.string(), "Detection name."),
       ("severity", pa.string(), "info, low, medium or high.")),
    _t("threat_networks", "Addresses from the user's threat list (S3LOGS_THREAT_LIST).",
       ("cidr", pa.string(), "The address or CIDR as listed."), _LO, _HI,
       ("label", pa.string(), "What the list says about it.")),
)}


def ip_keys(values: pa.Array) -> pa.Array:
    """ip_key of each value (DuckDB calls this with a column at a time)."""
    uniq = {v: ip_key(v) for v in set(values.to_pylist())}
    return pa.array([uniq[v] for v in values.to_pylist()], pa.string())


@dataclass(frozen=True)
class PolicyFiles:
    """What a session checks requests against: the access policy file and the threat list,
    each optional. Passed from the edge (CLI flags and variables, a Dagster resource), so
    one process can hold sessions of two policies."""

    policies: str | None = None
    threat_list: str | None = None


NO_POLICY = PolicyFiles()


def tables(files: PolicyFiles) -> dict[str, pa.Table]:
    """The configuration tables every session holds; empty ones for what is not set."""
    out = _policy_tables(files.policies, _mtime(files.policies)) if files.policies else {}
    if files.threat_list:
        out = {**out, "threat_networks": _threat_table(files.threat_list,
                                                       _mtime(files.threat_list))}
    return {name: out.get(name, t.schema.empty_table()) for name, t in CONFIG_TABLES.items()}


def check(path: str) -> str:
    """Validate a policy file; a one-line summary of what it declares."""
    found = _policy_tables(path, _mtime(path))
    return (f"{path}: {found['policy_buckets'].num_rows} bucket entries, "
            f"{found['policy_principals'].num_rows} principals, "
            f"{found['policy_networks'].num_rows} networks, "
            f"{found['policy_suppressions'].num_rows} suppressions: valid")


def _mtime(path: str) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        raise PolicyError(f"{path} does not exist: create it or unset the setting that "
                          "names it") from None


class _Rows:
    """The tables' rows as the file is read, refused past MAX_POLICY_ROWS as each is added,
    so a policy too large to hold fails before it takes the memory."""

    def __init__(self, reader: PolicyReader) -> None:
        self.reader, self.count = reader, 0
        self.tables: dict[str, list[dict]] = {name: [] for name in CONFIG_TABLES}

    def add(self, table: str, node: yaml.Node, key: str, row: dict) -> None:
        if self.count >= MAX_POLICY_ROWS:
            self.reader.fail(node, key, f"takes the policy past {MAX_POLICY_ROWS:,} rows "
                             "(networks, principals, buckets, suppressions), the most one "
                             "file may hold (use wider CIDRs and globs)")
        self.count += 1
        self.tables[table].append(row)


@lru_cache(maxsize=8)
def _policy_tables(path: str, _mtime: float) -> dict[str, pa.Table]:
    root = compose_policy(path, read_policy_text(path))
    p = PolicyReader(path)
    if root is None:
        raise PolicyError(f"{path} declares nothing: add a `buckets:` entry, or unset "
                          "S3LOGS_POLICIES (an empty file would turn the policy checks off)")
    top = p.mapping(root, "the file", {"buckets", "suppressions", "severities"})
    if "buckets" not in top:
        p.fail(root, "the file", "has no `buckets:` entry, so it would check nothing")
    rows = _Rows(p)
    for position, (name, (_, node)) in enumerate(
            p.mapping(top["buckets"][1], "buckets", None).items()):
        entry = p.mapping(node, name, _BUCKET_KEYS)
        principals = p.items(entry, "principals", name)
        read_only = p.items(entry, "read_only", name)
        networks = p.items(entry, "networks", name)
        for cidr, item in networks:
            where = f"{name}.networks"
            rows.add("policy_networks", item, where, {
                "bucket_pattern": name, "position": position, "cidr": cidr,
                **p.cidr(item, cidr, where)})
        for (glob, item), ro in [(g, False) for g in principals] + [(g, True)
                                                                    for g in read_only]:
            rows.add("policy_principals", item, f"{name}.principals", {
                "bucket_pattern": name, "position": position, "principal": glob,
                "read_only": ro})
        rows.add("policy_buckets", node, name, {
            "bucket_pattern": name, "position": position,
            "anonymous": p.choice(entry, "anonymous", ANONYMOUS, "deny", name),
            "min_tls": p.tls(entry, name), "has_principals": bool(principals or read_only),
            "has_networks": bool(networks)})
    known = _detections()
    if "suppressions" in top:
        node = top["suppressions"][1]
        if not isinstance(node, yaml.SequenceNode):
            p.fail(node, "suppressions", "must be a list of entries")
        for position, item in enumerate(node.value):
            where = f"suppressions[{position}]"
            s = p.mapping(item, where, _SUPPRESSION_KEYS)
            for needed in ("reason", "expires"):
                if needed not in s:
                    p.fail(item, where, f"needs `{needed}`: a suppression says why, and "
                           "until when")
            if not {"detection", "bucket", "principal", "network"} & set(s):
                p.fail(item, where, "names no detection, bucket, principal or network, so it "
                       "would silence every finding")
            detection = p.scalar(s, "detection", where)
            if detection and not fnmatch.filter(known, detection):
                p.fail(s["detection"][1], f"{where}.detection", f"{detection!r} matches no "
                       f"detection (there are {', '.join(sorted(known))})")
            network = p.scalar(s, "network", where)
            lo_hi = p.cidr(s["network"][1], network, f"{where}.network") if network else \
                {"lo": None, "hi": None}
            rows.add("policy_suppressions", item, where, {
                "position": position, "detection": detection,
                "bucket_pattern": p.scalar(s, "bucket", where),
                "principal": p.scalar(s, "principal", where), "network": network, **lo_hi,
                "reason": p.scalar(s, "reason", where), "expires": p.day(s, "expires", where)})
    if "severities" in top:
        for detection, (key, node) in p.mapping(top["severities"][1], "severities",
                                                None).items():
            if detection not in known:
                p.fail(key, f"severities.{detection}", "is not a detection (there are "
                       f"{', '.join(sorted(known))})")
            value = node.value if isinstance(node, yaml.ScalarNode) else None
            if value not in SEVERITIES:
                p.fail(node, f"severities.{detection}", f"must be one of {', '.join(SEVERITIES)}")
            rows.add("policy_severities", node, f"severities.{detection}",
                     {"detection": detection, "severity": value})
    return {name: pa.Table.from_pylist(r, schema=CONFIG_TABLES[name].schema)
            for name, r in rows.tables.items()}


def _detections() -> set[str]:
    """The detections there are: those detection_settings gives a severity."""
    catalog = load()
    text = catalog.read_bytes(catalog["detection_settings"].seed_file).decode()
    return {row["detection"] for row in csv.DictReader(io.StringIO(text))
            if row["parameter"] == "severity"}


@lru_cache(maxsize=4)
def _threat_table(path: str, _mtime: float) -> pa.Table:
    """A CSV of addresses or CIDRs (first column), with an optional label (second)."""
    rows = []
    text = Path(path).read_text(encoding="utf-8")
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        try:
            lo, hi = cidr_range(row[0])
        except ValueError:
            if n == 1:
                continue  # a header row
            raise PolicyError(f"{path}, line {n}: {row[0]!r} is not an address or CIDR: fix "
                              "or remove the line") from None
        rows.append({"cidr": row[0].strip(), "lo": lo, "hi": hi,
                     "label": row[1].strip() if len(row) > 1 else ""})
    return pa.Table.from_pylist(rows, schema=CONFIG_TABLES["threat_networks"].schema)
