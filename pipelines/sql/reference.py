"""The documentation's generated parts, rendered from what defines them.

`python -m pipelines.sql.reference --write` (what `make docs` runs first) writes:

  README.md                     the model table (Catalog.markdown_table)
  docs/analysts/models.md       the same models, each linked to the reference
  docs/analysts/reference.md    the whole page: every model, view, seed, macro and query of
                                the SQL catalog with its columns and types, the lake's
                                tables and the tables made from the policy file
  docs/analysts/access-logs.md  the access_logs view's columns
  docs/schema.md                the record schema (pipelines.parsing.logformat)
  docs/security/detections.md   the detection settings (detection_settings.csv)
  sql/athena/*.hql, sql/hive/*.hql  the DDL of every lake table and mart, and the analyst
                                view, for Athena and for Spark/Hive/Trino (pipelines.sql.ddl)

In the pages written in part, the generated text sits between `<!-- NAME:start -->` and
`<!-- NAME:end -->`; everything around it is written by hand. `--check` exits 1 naming
the files that differ from what this module renders now (and a DDL file no table needs any
more, which --write removes), as tests/test_docs.py does.

Descriptions come from the `MODEL (...)` headers of the packaged SQL folder; column types
from compiling it in an empty DuckDB session (pipelines.sql.session), so a page shows
what DuckDB says each column is. Plain Python: nothing here imports Dagster.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import duckdb

from pipelines.lake.store import LAKE_TABLES
from pipelines.parsing import logformat
from pipelines.security.policy import CONFIG_TABLES
from pipelines.sql import ddl
from pipelines.sql.catalog import Catalog, Kind, Model, load
from pipelines.sql.session import columns, session

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = "docs/analysts/reference.md"
_MACRO = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?MACRO\s+\w+\s*\(([^)]*)\)\s*AS\s+(TABLE\b)?",
                    re.I)
_STRINGS_AND_COMMENTS = re.compile(r"'(?:[^']|'')*'|--[^\n]*")
_SECTIONS = (  # kind -> (heading, what one of them is)
    (Kind.MODEL, "Models", "a model (`INCREMENTAL_BY_TIME_RANGE`): one Dagster asset, its "
                           "results in `LAKE/marts/{name}/dt=YYYY-MM-DD/`, a view in the "
                           "warehouse"),
    (Kind.VIEW, "Views", "a view, in the warehouse and in every model session"),
    (Kind.SEED, "Seeds", "a seed: the CSV `sql/{seed}`, loaded as a table"),
    (Kind.MACRO, "Macros", "a {macro} macro"),
    (Kind.QUERY, "Queries", "a query the report, the demo or a command runs, with its "
                            "parameters bound"),
)


class StaleDocs(Exception):
    """A page lacks the markers its generated part goes between."""


@dataclass(frozen=True)
class Col:
    name: str
    type: str
    doc: str


# --- what the pages say ---------------------------------------------------------------


def readme_models(catalog: Catalog) -> str:
    """The README's model table: the catalog's own (tests/test_catalog.py holds them equal)."""
    return catalog.markdown_table()


def model_index(catalog: Catalog) -> str:
    """The models, each linked to its entry in the reference."""
    rows = ["| model | grain | reads | parameters | what |", "|---|---|---|---|---|"]
    for m in catalog.of(Kind.MODEL):
        rows.append(f"| [`{m.name}`](reference.md#{m.name}) | {', '.join(m.grain)} "
                    f"| {m.window.describe()} | {_parameters(m)} | {_cell(m.description)} |")
    return "\n".join(rows)


def access_logs_columns(catalog: Catalog) -> str:
    """The access_logs view's columns: the records' and the derived ones."""
    cols = _columns(catalog)["access_logs"]
    return (f"{_cell(catalog['access_logs'].description)}\n\n{_column_table(cols)}\n\n"
            "The same, with what the view reads, is in the "
            "[reference](reference.md#access_logs).")


def schema_table() -> str:
    """The record schema's table (`list<item: string>` written so no page takes it for a
    tag)."""
    return "".join(p if p.startswith("`") else p.replace("<", "&lt;")
                   for p in re.split(r"(`[^`\n]*`)", logformat.markdown_table()))


def detection_settings(catalog: Catalog) -> str:
    """One row per detection of detection_settings.csv: its severity and other settings."""
    seed = catalog["detection_settings"]
    rows = list(csv.DictReader(io.StringIO(catalog.read_bytes(seed.seed_file).decode())))
    settings: dict[str, dict[str, str]] = {}
    for row in rows:
        settings.setdefault(row["detection"], {})[row["parameter"]] = row["value"]
    out = ["| detection | severity | settings |", "|---|---|---|"]
    for detection, values in settings.items():
        severity = values.pop("severity", "-")
        rest = ", ".join(f"`{k}` = {_code(v)}" for k, v in values.items()) or "-"
        out.append(f"| `{detection}` | {severity} | {rest} |")
    return "\n".join(out)


def reference_page(catalog: Catalog) -> str:
    """The analysts' reference: every object of the catalog, then the tables that are not
    SQL files (the lake's, the policy file's)."""
    cols = _columns(catalog)
    readers = _readers(catalog)
    out = [
        "# Reference: models, views, seeds, macros and queries",
        "",
        "<!-- Generated by `make docs` (python -m pipelines.sql.reference --write) from the "
        "SQL headers: edit the headers, not this page. -->",
        "",
        "Every object of the SQL catalog, as the `MODEL (...)` header of its file under "
        "`sql/` describes it, with the types DuckDB gives its columns. *Reads* names the "
        "catalog's objects its SQL uses, directly or through the views and macros it reads; "
        "*read by* is the other way round. How models run and how to add one: "
        "[SQL models](models.md).",
        "",
        "| kind | objects |",
        "|---|---|",
    ]
    for kind, heading, _ in _SECTIONS:
        names = ", ".join(f"[`{m.name}`](#{m.name})" for m in catalog.of(kind))
        out.append(f"| [{heading}](#{heading.lower()}) | {names} |")
    out.append("| [Lake tables](#lake-tables) | "
               + ", ".join(f"[`{n}`](#{n})" for n in LAKE_TABLES) + " |")
    out.append("| [Tables from configuration](#tables-from-configuration) | "
               + ", ".join(f"[`{n}`](#{n})" for n in CONFIG_TABLES) + " |")
    for kind, heading, what in _SECTIONS:
        out += ["", f"## {heading}"]
        for m in catalog.of(kind):
            out += ["", *_entry(catalog, m, what, cols.get(m.name, []), readers)]
    out += ["", "## Lake tables", "",
            "The lake's own folders, as every session and the warehouse hold them. Their "
            "columns are the [record schema](../schema.md) and the quarantine's, defined in "
            "`pipelines/parsing/logformat.py`."]
    for name, table in LAKE_TABLES.items():
        out += ["", f"### `{name}`", "", _cell(table.doc), "",
                f"- **Lake folder**: `LAKE/{table.folder}/`", "",
                _column_table(_table_columns(catalog, name, table.docs))]
    out += ["", "## Tables from configuration", "",
            "Made from the [access policy file](../security/policies.md) "
            "(`S3LOGS_POLICIES`) and the threat list (`S3LOGS_THREAT_LIST`) when a session "
            "starts; empty when none is set."]
    for name, table in CONFIG_TABLES.items():
        out += ["", f"### `{name}`", "", _cell(table.doc), "",
                _column_table(_table_columns(catalog, name, table.docs))]
    return "\n".join(out) + "\n"


def _entry(catalog: Catalog, m: Model, what: str, cols: list[Col],
           readers: dict[str, list[str]]) -> list[str]:
    lines = [f"### `{m.name}`", "", _cell(m.description), ""]
    signature = None
    if m.kind == Kind.MACRO:
        match = _MACRO.search(m.body)
        args = [a.strip() for a in match.group(1).split(",") if a.strip()] if match else []
        signature = f"`{m.name}({', '.join(args)})`"
        what = what.format(macro="table" if match and match.group(2) else "scalar")
        cols = _macro_columns(catalog, m, args) if match and match.group(2) else []
    facts = [("Kind", what.format(name=m.name, seed=m.seed_file)), ("File", f"`sql/{m.path}`")]
    if signature:
        facts.append(("Call", signature))
    if m.kind in (Kind.MODEL, Kind.VIEW, Kind.MACRO):  # where it runs: docs/engines.md
        facts.append(("Engines", ", ".join(catalog.engines(m))))
    if m.grain:
        facts.append(("Grain", ", ".join(m.grain)))
    if m.nullable:
        facts.append(("Nullable grain columns", ", ".join(m.nullable)))
    if m.kind == Kind.MODEL:
        facts.append(("Days read", m.window.describe()))
    if m.parameters:
        facts.append(("Parameters", _parameters(m)))
    reads = catalog.reads(m, *Kind) + _lake_tables_read(m)
    if reads:
        facts.append(("Reads", ", ".join(f"[`{n}`](#{n})" for n in reads)))
    if readers.get(m.name):
        facts.append(("Read by", ", ".join(f"[`{n}`](#{n})" for n in readers[m.name])))
    lines += [f"- **{k}**: {v}" for k, v in facts]
    audits = getattr(m, "audits", ())  # what its header says holds of its rows
    if audits:
        lines.append("- **Audits** (checked on every run):")
        lines += [f"    - `{a.name}`: {_cell(a.describe())}" for a in audits]
    if cols:
        lines += ["", _column_table(cols)]
    return lines


# --- what the code says ----------------------------------------------------------------


def _columns(catalog: Catalog) -> dict[str, list[Col]]:
    return {name: [Col(c.name, c.type, c.doc) for c in cs]
            for name, cs in columns(catalog).items()}


def _readers(catalog: Catalog) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in catalog.models.values():
        for name in catalog.reads(m, *Kind):
            out.setdefault(name, []).append(m.name)
    return {k: sorted(v) for k, v in out.items()}


def _lake_tables_read(m: Model) -> list[str]:
    code = _STRINGS_AND_COMMENTS.sub(" ", m.body)
    return [n for n in LAKE_TABLES if re.search(rf"\b{n}\b", code)]


@cache
def _session(catalog: Catalog) -> duckdb.DuckDBPyConnection:
    """An empty session of the catalog (no lake, no policy): the shapes of everything."""
    return session(None, catalog)


def _macro_columns(catalog: Catalog, m: Model, args: list[str]) -> list[Col]:
    """A table macro's columns, from calling it with every argument null (no rows)."""
    try:
        rel = _session(catalog).sql(
            f"SELECT * FROM {m.name}({', '.join(['NULL'] * len(args))}) LIMIT 0")
    except duckdb.Error:
        return []  # its shape depends on its arguments: the description says what it gives
    return [Col(n, str(t), "") for n, t in zip(rel.columns, rel.types)]


def _table_columns(catalog: Catalog, name: str, docs: dict[str, str]) -> list[Col]:
    rel = _session(catalog).table(name)
    return [Col(n, str(t), docs.get(n, "")) for n, t in zip(rel.columns, rel.types)]


# --- markdown --------------------------------------------------------------------------


def _column_table(cols: list[Col]) -> str:
    if not any(c.doc for c in cols):
        rows = ["| column | type |", "|---|---|"]
        rows += [f"| `{c.name}` | {_code(c.type)} |" for c in cols]
    else:
        rows = ["| column | type | what |", "|---|---|---|"]
        rows += [f"| `{c.name}` | {_code(c.type)} | {_cell(c.doc)} |" for c in cols]
    return "\n".join(rows)


def _parameters(m: Model) -> str:
    """`name` = default, a text default quoted as the header writes it."""
    return ", ".join(f"`{k}` = " + (_code(f"'{v}'") if isinstance(v, str) else str(v))
                     for k, v in m.parameters.items()) or "-"


def _code(text: str) -> str:
    """Text as code in a table cell. A pipe inside backticks splits a GitHub table cell
    (MkDocs's does not), so code holding one is written as HTML, which both render alike."""
    if "|" in text or "`" in text:
        return "<code>" + html.escape(text).replace("|", "&#124;") + "</code>"
    return f"`{text}`"


def _cell(text: str) -> str:
    """Prose in a table cell or a paragraph, on one line."""
    return _prose(" ".join(text.split()))


def _prose(text: str) -> str:
    """Markdown that shows `text` as written: outside code, a pipe, an asterisk and an
    angle bracket are escaped; code holding a pipe is written as HTML (see `_code`)."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(_code(p[1:-1]) if len(p) > 1 and p.startswith("`") and p.endswith("`")
                   else p.replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;")
                   for p in parts)


# --- the files ---------------------------------------------------------------------------


def splice(text: str, name: str, body: str, path: str) -> str:
    """`text` with what lies between the markers NAME:start and NAME:end replaced."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise StaleDocs(f"{path} needs one `{start}` and, after it, one `{end}` line: the "
                        f"generated {name} goes between them")
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    return f"{before}{start}\n\n{body.strip()}\n\n{end}{after}"


def render(root: Path = ROOT, catalog: Catalog | None = None) -> dict[str, str]:
    """Each generated file (relative to the repository) with the text it must hold now."""
    catalog = catalog or load()
    spliced = {  # path -> [(marker name, generated text)]
        "README.md": [("models", readme_models(catalog))],
        "docs/analysts/models.md": [("model-index", model_index(catalog))],
        "docs/analysts/access-logs.md": [("access-logs", access_logs_columns(catalog))],
        "docs/schema.md": [("schema", schema_table())],
        "docs/security/detections.md": [("detection-settings", detection_settings(catalog))],
    }
    out = {}
    for path, blocks in spliced.items():
        text = (root / path).read_text(encoding="utf-8")
        for name, body in blocks:
            text = splice(text, name, body, path)
        out[path] = text
    out[REFERENCE] = reference_page(catalog)
    return out | ddl.files(catalog)


def stale(root: Path = ROOT) -> list[str]:
    """The generated files whose text differs from what `render` gives now, and the DDL
    files no table needs any more."""
    rendered = render(root)
    return [path for path, text in rendered.items()
            if not (root / path).is_file()
            or (root / path).read_text(encoding="utf-8") != text] + ddl.extra_files(
        root, rendered)


def write(root: Path = ROOT) -> list[str]:
    """Write every generated file that differs, and remove the DDL files no table needs
    any more; the paths written or removed."""
    written = []
    rendered = render(root)
    for path, text in rendered.items():
        file = root / path
        if not file.is_file() or file.read_text(encoding="utf-8") != text:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(text, encoding="utf-8")
            written.append(path)
    for path in ddl.extra_files(root, rendered):
        (root / path).unlink()
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.sql.reference",
        description="Render the documentation's generated parts (README.md, docs/) and "
                    "the DDL for other engines (sql/athena/, sql/hive/) from the SQL "
                    "headers, the record schema and detection_settings.csv.")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--write", action="store_true", help="write the files that differ")
    what.add_argument("--check", action="store_true",
                      help="exit 1 naming the files that differ")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the repository (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        if args.write:
            written = write(args.root)
            print("\n".join(f"wrote {p}" for p in written) or "the generated docs are current")
            return 0
        behind = stale(args.root)
    except StaleDocs as e:
        print(f"python -m pipelines.sql.reference: {e}", file=sys.stderr)
        return 1
    if behind:
        print("stale: " + ", ".join(behind) + ": run `make docs`", file=sys.stderr)
        return 1
    print("the generated docs are current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
