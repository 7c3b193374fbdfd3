"""Reading an access policy file (pipelines.security.policy) safely, and naming its
mistakes: one sentence with the file, the line and the key.

A file that would hurt to read is refused the same way, before it costs much: one larger
than MAX_POLICY_BYTES (checked before parsing), YAML aliases (one `*name` can repeat a
list thousands of times), collections nested deeper than MAX_POLICY_DEPTH (checked as each
is met, so the parser never recurses further), more than MAX_POLICY_NODES values (counted
as they are composed), and a policy of more than MAX_POLICY_ROWS rows (checked as each is
added). Networks are read strictly (pipelines.security.addresses.policy_network).
"""

from __future__ import annotations

import os
from datetime import date

import yaml

from pipelines.security.addresses import key_range, policy_network

# Limits that keep a mistaken or hostile policy file from costing minutes and gigabytes:
# a real one is a few KB, four levels deep and a few hundred rows.
MAX_POLICY_BYTES = 1 << 20      # the file, checked before it is read
MAX_POLICY_DEPTH = 32           # nested mappings and lists; a policy needs 4
MAX_POLICY_ROWS = 100_000       # networks, principals, buckets, suppressions, severities
MAX_POLICY_NODES = 200_000      # YAML values of any kind, counted as they are composed


class PolicyError(ValueError):
    """The policy file has a mistake; the message names the file, line and key."""


def read_policy_text(path: str) -> str:
    """The file's text; one past MAX_POLICY_BYTES is refused before it is read or parsed.

    The size is checked on the open file, and no more than the limit and one byte is read,
    so a file that grows meanwhile (or a device that never ends) is refused too.
    pipelines.security.policy reads the file with it, then `compose_policy`."""
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


def compose_policy(path: str, text: str) -> yaml.Node | None:
    """The file's YAML tree, or one sentence saying where and why it cannot be read:
    what pipelines.security.policy reads the tables from, with a PolicyReader."""
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


class PolicyReader:
    """Reads YAML nodes, failing with the file, line and key (with its parents): how
    pipelines.security.policy reads each entry of the file."""

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
            lo, hi = key_range(policy_network(text))
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
