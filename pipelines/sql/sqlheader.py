"""The `MODEL (...)` header at the top of every SQL file, in SQLMesh's shape.

    MODEL (
      name usage_daily,
      kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
      grain (dt, bucket, operation),
      audits (not_null (dt, requests), row_count_min (1)),
      description 'Requests per day, bucket and operation.',
      column_descriptions (dt = 'UTC day.', requests = 'Number of requests.')
    );
    SELECT ...

A header is a list of properties, each a name and a value. A value is a 'string' ('' for a
quote inside), a number, a name, a name with arguments (`SEED (path 'x.csv')`), or a
parenthesised list whose items are values, `key = value` or `key value` pairs. `--`
comments may appear anywhere. This module only reads the shape; `catalog` decides what the
properties mean, so every error here says where in the text it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>--[^\n]*)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>-?[0-9]+(?:\.[0-9]+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[(),=;])
""", re.VERBOSE)


class HeaderError(ValueError):
    """The header's text is not a MODEL (...) block; the message says where and why."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


class Name(str):
    """A bare name (identifier or keyword), as opposed to a 'string'."""


@dataclass(frozen=True)
class Pair:
    key: str
    value: object
    line: int


@dataclass(frozen=True)
class Call:
    """A name with arguments: `INCREMENTAL_BY_TIME_RANGE (time_column dt)`."""

    name: str
    args: list


@dataclass(frozen=True)
class Header:
    properties: dict[str, object]
    lines: dict[str, int]       # the line each property starts on, for error messages
    body: str                   # the SQL after the header
    body_line: int              # the line the body starts on


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    line: int
    end: int


def _tokens(text: str) -> list[_Tok]:
    """The header's tokens, up to the `;` after its closing parenthesis: the SQL body is
    not tokenised."""
    out, pos, line, depth = [], 0, 1, 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise HeaderError(line, f"unexpected character {text[pos]!r}")
        if m.lastgroup not in ("space", "comment"):
            tok = _Tok(m.lastgroup, m.group(), line, m.end())
            if out and depth == 0 and out[-1].text == ")":
                if tok.text != ";":
                    raise HeaderError(line, "the header must end with `);` before the SQL")
                out.append(tok)
                return out
            depth += {"(": 1, ")": -1}.get(tok.text, 0)
            out.append(tok)
        line += m.group().count("\n")
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[_Tok]) -> None:
        self.toks, self.i = tokens, 0

    def peek(self, ahead: int = 0) -> _Tok | None:
        j = self.i + ahead
        return self.toks[j] if j < len(self.toks) else None

    def take(self, text: str | None = None, kind: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None:
            last = self.toks[-1].line if self.toks else 1
            raise HeaderError(last, f"the header ends early (expected {text or kind})")
        if (text and tok.text != text) or (kind and tok.kind != kind):
            raise HeaderError(tok.line, f"expected {text or kind}, found {tok.text!r}")
        self.i += 1
        return tok

    def value(self) -> object:
        tok = self.take()
        if tok.kind == "string":
            return tok.text[1:-1].replace("''", "'")
        if tok.kind == "number":
            return float(tok.text) if "." in tok.text else int(tok.text)
        if tok.kind == "name":
            nxt = self.peek()
            return Call(tok.text, self.items()) if nxt and nxt.text == "(" else Name(tok.text)
        if tok.text == "(":
            self.i -= 1
            return self.items()
        raise HeaderError(tok.line, f"expected a value, found {tok.text!r}")

    def items(self) -> list:
        self.take("(")
        out: list = []
        while (tok := self.peek()) and tok.text != ")":
            nxt = self.peek(1)
            if tok.kind == "name" and nxt and nxt.text == "=":
                self.i += 2
                out.append(Pair(tok.text, self.value(), tok.line))
            elif tok.kind == "name" and nxt and nxt.text not in (",", ")", "("):
                self.i += 1
                out.append(Pair(tok.text, self.value(), tok.line))
            else:
                out.append(self.value())
            if self.peek() and self.peek().text == ",":
                self.i += 1
            elif self.peek() and self.peek().text != ")":
                raise HeaderError(self.peek().line, f"expected , or ) but found "
                                                    f"{self.peek().text!r}")
        self.take(")")
        return out


_START = re.compile(r"(?:\s+|--[^\n]*)*MODEL\b", re.IGNORECASE)


def parse(text: str) -> Header:
    """Split a SQL file into its MODEL header (properties) and its SQL body."""
    if not _START.match(text):
        raise HeaderError(1, "the file must start with a MODEL (...); header")
    p = _Parser(_tokens(text))
    p.take()  # MODEL
    p.take("(")
    properties: dict[str, object] = {}
    lines: dict[str, int] = {}
    while (tok := p.peek()) and tok.text != ")":
        if tok.kind != "name":
            raise HeaderError(tok.line, "every header entry is `property value`, e.g. "
                                        "`name usage_daily`")
        p.take()
        if tok.text in properties:
            raise HeaderError(tok.line, f"{tok.text} is given twice")
        properties[tok.text], lines[tok.text] = p.value(), tok.line
        if p.peek() and p.peek().text == ",":
            p.take()
        elif p.peek() and p.peek().text != ")":
            raise HeaderError(p.peek().line, f"expected , or ) but found {p.peek().text!r}")
    p.take(")")
    end = p.take(";")
    return Header(properties, lines, text[end.end:], end.line)
