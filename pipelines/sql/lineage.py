"""What one SQL statement reads, from its syntax tree (sqlglot, DuckDB's dialect).

A model depends on what its SQL reads, not on every word it holds: a table read in a FROM
or a JOIN (of the statement, a subquery or a CTE's body) is a dependency, a CTE, an alias
or a column that shares a model's name is not, and a macro counts when it is called. The
catalog keeps this for every file and resolves the names; this module knows nothing of
the catalog, so it can be tested on bare SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

DIALECT = "duckdb"


class SqlError(ValueError):
    """The SQL cannot be read; `line` counts from the SQL's first line (1)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Statement:
    """One statement, as its syntax tree says: what it is, and the names it uses."""

    query: bool                     # a SELECT (or a set operation of SELECTs)
    macro: str | None               # the name a CREATE MACRO defines, else None
    tables: frozenset[str]          # tables and views it reads, lower case
    calls: frozenset[str]           # functions it calls (macros among them), lower case
    parameters: frozenset[str]      # its $parameters


def read(sql: str) -> tuple[Statement, ...]:
    """Every statement of `sql` (none when it holds only comments). Raises SqlError, with
    the line, when sqlglot cannot parse it."""
    try:
        trees = [t for t in sqlglot.parse(sql, dialect=DIALECT) if t is not None]
    except (ParseError, TokenError) as e:
        first = (getattr(e, "errors", None) or [{}])[0]
        where = f" near {first['highlight']!r}" if first.get("highlight") else ""
        raise SqlError(_line(sql, first), f"sqlglot cannot parse it{where}") from None
    return tuple(_statement(t) for t in trees)


def _line(sql: str, error: dict) -> int:
    """The line of the token a parse error is about, found from the text before it:
    sqlglot 30.30 miscounts lines in SQL that holds a $parameter (two too many)."""
    before = error.get("start_context", "")
    at = sql.find(before + error.get("highlight", "")) if before else -1
    return sql[:at + len(before)].count("\n") + 1 if at >= 0 else error.get("line") or 1


def _statement(tree: exp.Expression) -> Statement:
    if isinstance(tree, exp.Command):  # sqlglot's fallback for a statement it does not know
        raise SqlError(1, f"sqlglot does not know the statement {tree.name!r}")
    defines = _macro_name(tree)
    body = tree.expression if defines else tree
    return Statement(
        query=isinstance(tree, exp.Query), macro=defines,
        tables=frozenset(t.name.lower() for t in body.find_all(exp.Table)
                         if isinstance(t.this, exp.Identifier) and not _names_a_cte(t)),
        calls=frozenset(_called(f) for f in body.find_all(exp.Func)),
        parameters=frozenset(p.name for p in body.find_all(exp.Placeholder) if p.name))


def _macro_name(tree: exp.Expression) -> str | None:
    """The name of the macro a CREATE MACRO statement defines (it is no table it reads)."""
    if isinstance(tree, exp.Create) and str(tree.args.get("kind") or "").upper() == "MACRO":
        signature = tree.this  # name(parameters): a UserDefinedFunction of a Table
        return (signature.this if isinstance(signature, exp.UserDefinedFunction)
                else signature).name.lower() or None
    return None


def _called(func: exp.Func) -> str:
    """A function's name as written: sqlglot reads a function it does not know (a macro)
    as Anonymous, and a known one as its own node, named by its SQL name."""
    return (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()


def _names_a_cte(table: exp.Table) -> bool:
    """Whether `table` names a CTE visible where it stands: one of the WITH clauses it is
    inside, for a CTE's own body only the CTEs before it (itself too, when RECURSIVE). A
    qualified name (main.t) is never a CTE."""
    if table.args.get("db") or table.args.get("catalog"):
        return False
    name = table.name.lower()
    node: exp.Expression = table
    while node.parent is not None:
        parent = node.parent
        if isinstance(node, exp.CTE) and isinstance(parent, exp.With):
            ctes = parent.expressions
            mine = next(i for i, c in enumerate(ctes) if c is node)
            visible = ctes[: mine + 1] if parent.args.get("recursive") else ctes[:mine]
            if name in {c.alias_or_name.lower() for c in visible}:
                return True
        elif not isinstance(node, exp.With):
            with_ = parent.args.get("with_")
            if isinstance(with_, exp.With) and name in {
                    c.alias_or_name.lower() for c in with_.expressions}:
                return True
        node = parent
    return False
