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

A file that would hurt to read is refused the same way, before it costs much: one larger
than MAX_POLICY_BYTES (checked before parsing), YAML aliases (one `*name` can repeat a
list thousands of times), collections nested deeper than MAX_POLICY_DEPTH (checked as each
is met, so the parser never recurses further), more than MAX_POLICY_NODES values (counted
as they are composed), and a policy of more than MAX_POLICY_ROWS rows (checked as each is
added). Networks are read strictly: host bits set
(`10.1.2.3/8`) or an interface zone (`fe80::%eth0/64`) are refused, not silently widened.

Addresses are compared as `ip_key`: 32 hex digits of the IPv6 address (IPv4 mapped into
::ffff:0:0/96), so one text comparison covers both families, and a CIDR is a key range.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import ipaddress
import os
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import pyarrow as pa
import yaml

from pipelines.sql.catalog import load

SEVERITIES = ("info", "low", "medium", "high")
# What anonymous requests a bucket expects, from least to most: `allow` is kept from the
# first version of the file (any anonymous operation), though a public website wants `read`.
ANONYMOUS = ("deny", "read", "write", "allow")
_BUCKET_KEYS = {"anonymous", "principals", "read_only", "networks", "min_tls", "description"}
_SUPPRESSION_KEYS = {"detection", "bucket", "principal", "network", "reason", "expires"}
# Limits that keep a mistaken or hostile policy file from costing minutes and gigabytes:
# a real one is a few KB, four levels deep and a few hundred rows.
MAX_POLICY_BYTES = 1 << 20      # the file, checked before it is read
MAX_POLICY_DEPTH = 32           # nested mappings and lists; a policy needs 4
MAX_POLICY_ROWS = 100_000       # networks, principals, buckets, suppressions, severities
MAX_POLICY_NODES = 200_000      # YAML values of any kind, counted as they are composed
_ZONE = re.compile(r"%[^/]*")   # an IPv6 interface zone: fe80::1%eth0


class PolicyError(ValueError):
    """The policy file has a mistake; the message names the file, line and key."""


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


def ip_key(text: str | None) -> str | None:
    """32 hex digits of the address (IPv4 as ::ffff:a.b.c.d); None if it is not one."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if addr.version == 4:
        addr = ipaddress.IPv6Address(0xFFFF00000000 | int(addr))
    return f"{int(addr):032x}"


def cidr_range(text: str) -> tuple[str, str]:
    """(first, last) ip_key of a CIDR or a single address; ValueError if it is neither.

    Lenient (host bits are dropped), for lists kept elsewhere such as the threat list; the
    policy file's own networks go through policy_network."""
    return _key_range(ipaddress.ip_network(str(text).strip(), strict=False))


def policy_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network a policy file names, read strictly; ValueError says what is wrong.

    A rule written `10.1.2.3/8` was meant as one address or as 10.0.0.0/8, and reading it
    either way silently would allow something nobody checked; a zone (`%eth0`) names an
    interface of some host, which access logs never carry."""
    text = str(text).strip()
    bare = _ZONE.sub("", text)
    try:
        loose = ipaddress.ip_network(bare, strict=False)
    except ValueError:
        raise ValueError("is not an address or CIDR") from None
    if bare != text:
        raise ValueError(f"names an interface zone ({_ZONE.search(text).group()}) that "
                         f"access logs never carry (write {loose})")
    try:
        return ipaddress.ip_network(bare, strict=True)
    except ValueError:
        raise ValueError(f"has host bits set (write the network, {loose}, or just "
                         f"{bare.split('/')[0]} for that one address)") from None


def _key_range(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[str, str]:
    return ip_key(str(net[0])), ip_key(str(net[-1]))


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


def _read(path: str) -> str:
    """The file's text; one past MAX_POLICY_BYTES is refused before it is read or parsed.

    The size is checked on the open file, and no more than the limit and one byte is read,
    so a file that grows meanwhile (or a device that never ends) is refused too."""
    too_big = PolicyError(f"{path} is larger than {MAX_POLICY_BYTES >> 20} MiB, the most a "
                          "policy file may be: shorten it with bucket globs and wider CIDRs")
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_POLICY_BYTES:
                raise too_big
            data = f.read(MAX_POLICY_BYTES + 1)
    except OSError as e:
        raise PolicyError(f"{path} cannot be read ({e.strerror}): make it a readable file, "
                          "or unset the setting that names it") from None
    if len(data) > MAX_POLICY_BYTES:
        raise too_big
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(f"{path} is not UTF-8 text: save it as UTF-8") from None


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and deep nesting on each node's first event, before
    the node is composed.

    PyYAML composes an alias as the anchored node itself, so one 10,000-network list named
    1,000 times is cheap to parse and 10 million rows to read; refusing the alias is the
    only point where the file is still small. The composer recurses once per level, so 500
    nested brackets would end in a RecursionError: the depth is checked before recursing."""

    def __init__(self, text: str, path: str) -> None:
        super().__init__(text)
        self.path, self.depth, self.nodes = path, 0, 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        self.nodes += 1
        if self.nodes > MAX_POLICY_NODES:  # composed nodes cost ~1 KB each in PyYAML
            self._refuse(event, f"the file holds more than {MAX_POLICY_NODES:,} values: "
                         "shorten it with bucket globs and wider CIDRs")
        if isinstance(event, yaml.AliasEvent):
            self._refuse(event, f"*{event.anchor} is a YAML alias, which a policy file may "
                         "not use (one alias can repeat a list thousands of times): write "
                         "the values out")
        if not isinstance(event, yaml.CollectionStartEvent):
            return super().compose_node(parent, index)
        if self.depth >= MAX_POLICY_DEPTH:
            self._refuse(event, f"mappings and lists nest more than {MAX_POLICY_DEPTH} deep "
                         "here (a policy needs 4 levels): flatten the file")
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def _refuse(self, event: yaml.Event, problem: str):
        raise PolicyError(f"{self.path}, line {event.start_mark.line + 1}: {problem}")


def _compose(path: str, text: str) -> yaml.Node | None:
    """The file's YAML tree, or one sentence saying where and why it cannot be read."""
    loader = _Loader(text, path)
    try:
        return loader.get_single_node()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        line = f", line {mark.line + 1}" if mark else ""
        raise PolicyError(f"{path}{line}: this is not valid YAML "
                          f"({getattr(e, 'problem', None) or e}): fix the syntax") from None
    finally:
        loader.dispose()


class _Rows:
    """The tables' rows as the file is read, refused past MAX_POLICY_ROWS as each is added,
    so a policy too large to hold fails before it takes the memory."""

    def __init__(self, reader: _Reader) -> None:
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
    root = _compose(path, _read(path))
    p = _Reader(path)
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


class _Reader:
    """Reads YAML nodes, failing with the file, line and key (with its parents)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, node: yaml.Node, key: str, problem: str):
        raise PolicyError(f"{self.path}, line {node.start_mark.line + 1}: {key} {problem}: "
                          "fix it (`s3logs policy check` validates the file)")

    def mapping(self, node: yaml.Node, key: str, allowed: set[str] | None) -> dict:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, key, "must be a mapping of keys to values")
        out = {}
        for k, v in node.value:
            name = k.value if isinstance(k, yaml.ScalarNode) else None
            if not name:
                self.fail(k, key, "has a key that is not a plain name")
            if allowed is not None and name not in allowed:
                self.fail(k, f"{key}.{name}",
                          f"is not a known key (use {', '.join(sorted(allowed))})")
            if name in out:
                self.fail(k, f"{key}.{name}", "is given twice")
            out[name] = (k, v)
        return out

    def scalar(self, entry: dict, key: str, where: str) -> str | None:
        if key not in entry:
            return None
        node = entry[key][1]
        if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
            self.fail(node, f"{where}.{key}", "must be one non-empty value")
        return str(node.value)

    def items(self, entry: dict, key: str, where: str) -> list[tuple[str, yaml.Node]]:
        """Each text of a list with its node, so a mistake names the item's own line."""
        if key not in entry:
            return []
        node = entry[key][1]
        if not isinstance(node, yaml.SequenceNode) or not all(
                isinstance(v, yaml.ScalarNode) and str(v.value).strip() for v in node.value):
            self.fail(node, f"{where}.{key}", "must be a list of non-empty texts")
        return [(str(v.value), v) for v in node.value]

    def choice(self, entry: dict, key: str, allowed: tuple[str, ...], default: str,
               where: str) -> str:
        value = self.scalar(entry, key, where) or default
        if value not in allowed:
            self.fail(entry[key][1], f"{where}.{key}",
                      f"must be {', '.join(allowed[:-1])} or {allowed[-1]}, not {value!r}")
        return value

    def tls(self, entry: dict, where: str) -> float | None:
        value = self.scalar(entry, "min_tls", where)
        if value is None:
            return None
        if value not in ("1.0", "1.1", "1.2", "1.3"):
            self.fail(entry["min_tls"][1], f"{where}.min_tls",
                      f"must be \"1.0\" to \"1.3\", not {value!r}")
        return float(value)

    def cidr(self, node: yaml.Node, text: str, key: str) -> dict:
        try:
            lo, hi = _key_range(policy_network(text))
        except ValueError as e:
            self.fail(node, key, f"has {text!r}, which {e}")
        return {"lo": lo, "hi": hi}

    def day(self, entry: dict, key: str, where: str) -> date:
        value = self.scalar(entry, key, where)
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(entry[key][1], f"{where}.{key}",
                      f"has {value!r}, which is not a day (YYYY-MM-DD)")


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
