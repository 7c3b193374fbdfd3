"""The catalog's DuckDB SQL rendered for the other engines: Spark SQL, and Trino (the
engine of Athena), so the analyst view and the portable models are written once.

A file under `sql/` is DuckDB SQL, and DuckDB runs it as written. For another engine its
syntax tree (sqlglot, DuckDB's dialect) is rewritten, then printed in that engine's
dialect:

- the catalog's macros are inlined (a scalar macro's body with its arguments in place of
  its parameters; a table macro as a subquery), so `request_tier` and `billed_requests`
  keep one definition;
- sqlglot's own translation is trusted only for the functions in `_TRUSTED`, each one
  checked by tests/test_spark.py, which runs the result on Spark and compares every value
  with DuckDB's. Some it translates wrongly without a word (the ORDER BY inside
  `list(... ORDER BY ...)` is dropped, `isodow` numbers the days wrongly): those, a
  function of the DuckDB session (`ip_key`, Python) and any other function are refused,
  naming the function and the file;
- a few are written here by hand (`_by_hand`), where DuckDB means something the engine's
  namesake does not: `url_decode` (a + stays a +, a stray % stays) and the catalog's
  `url_decode_lossy` macro, not inlined (DuckDB's url_decode fails on bytes that are not
  UTF-8, where the macro replaces them as the engines' url_decode does), the regular
  expression functions (RE2's `.` and `$` said in Java's terms, DuckDB's first-match
  `regexp_replace`, `regexp_full_match`), `quantile_cont` (Spark's exact `percentile`:
  the same linear interpolation; Trino has only an approximate one, so it is refused),
  and `/`, which in DuckDB always divides as DOUBLE (Spark divides decimals as decimals).

Whether an entry may be rendered for an engine is its header's `engines`, for it and
everything it reads (`Catalog.check_engine`). `$parameters` stay parameters (Spark's
`:name` markers, bound by the runner); nothing is pasted into the text.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from pipelines.lake.store import LAKE_TABLES
from pipelines.sql.catalog import Catalog, CatalogError, Kind, Model

RENDERED = ("spark", "trino")
# sqlglot's translation of these DuckDB functions is what DuckDB means (checked on Spark)
_TRUSTED = (exp.And, exp.Or, exp.Not, exp.Case, exp.If, exp.Coalesce, exp.Nullif,
            exp.Cast, exp.Count, exp.Sum, exp.Greatest, exp.Least, exp.Round, exp.Substring,
            exp.DateTrunc, exp.TimeToStr, exp.Lower, exp.SplitPart)
_KNOWN_WRONG = {
    exp.ArrayAgg: "list()/array_agg(): sqlglot drops an ORDER BY inside it, and Spark's "
                  "collect_list drops nulls that DuckDB's list keeps",
    exp.DayOfWeekIso: "isodow(): sqlglot renders it with the wrong day numbers",
    exp.IntDiv: "// (integer division): not checked on other engines",
}
_MAX_DEPTH = 10  # macros inlined within macros
# the engines' url_decode is what these mean: rendered by hand, not from their DuckDB SQL
_URL_DECODE = ("url_decode", "url_decode_lossy")


class NotPortable(CatalogError):
    """An entry's SQL cannot be rendered for an engine; the message says what and why."""


def render(catalog: Catalog, model: Model, engine: str, database: str | None = None) -> str:
    """The entry's SELECT (a view's, a model's) in `engine`'s dialect, macros inlined.
    `database`: qualify the tables it reads with it (for DDL kept in a metastore)."""
    if engine not in RENDERED:
        raise NotPortable(f"no rendering for {engine!r}: it is one of {', '.join(RENDERED)}")
    catalog.check_engine(model, engine)
    if model.kind not in (Kind.VIEW, Kind.MODEL, Kind.QUERY):
        raise NotPortable(f"{model.path}: a {model.kind} is not rendered on its own; the "
                          "entries that read it are")
    tree = _inline(catalog, sqlglot.parse_one(model.body, read="duckdb"), model)
    for kind, why in _KNOWN_WRONG.items():  # named first: the reason says what to do
        if tree.find(kind):
            raise NotPortable(f"{model.path} does not render for {engine}: {why}")
    for node in tree.find_all(exp.Func):
        _check(node, engine, model)
    tree = _bottom_up(tree, lambda node: _by_hand(node, engine, model))
    if database is not None:
        _qualify(tree, catalog, database)
    return tree.sql(dialect=engine, pretty=True, comments=False)


def _bottom_up(tree: exp.Expression, rewrite) -> exp.Expression:
    """`rewrite` applied to every node, each after its children (so a rewritten node is
    built from rewritten parts); the nodes it makes are not themselves rewritten."""
    for node in reversed(list(tree.walk())):  # a node comes before its children in walk()
        parent, key, index = node.parent, node.arg_key, node.index  # before `rewrite` may
        new = rewrite(node)                                       # wrap the node itself
        if new is not node:
            if parent is None:
                tree = new
            else:
                parent.set(key, new, index)
    return tree


# -- macros -------------------------------------------------------------------------------


def _inline(catalog: Catalog, tree: exp.Expression, model: Model) -> exp.Expression:
    macros = {m.name: m for m in catalog.of(Kind.MACRO) if m.name not in _URL_DECODE}

    def expand(node: exp.Expression) -> exp.Expression:
        call = node.this if isinstance(node, exp.Table) else node
        if not isinstance(call, exp.Anonymous) or call.name.lower() not in macros:
            return node
        params, body = _macro(macros[call.name.lower()])
        if len(params) != len(call.expressions):
            raise NotPortable(f"{model.path}: {call.name} takes {len(params)} arguments")
        args = dict(zip(params, call.expressions))
        body = body.transform(lambda n: args[n.name].copy() if isinstance(n, exp.Column)
                              and not n.table and n.name in args else n)
        if isinstance(node, exp.Table):  # a table macro in FROM: a subquery, same name
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(call.name))
            return exp.Subquery(this=body, alias=alias.copy())
        return exp.Paren(this=body)

    for _ in range(_MAX_DEPTH):
        before = tree.sql(dialect="duckdb")
        tree = tree.transform(expand)
        if tree.sql(dialect="duckdb") == before:
            return tree
    raise NotPortable(f"{model.path}: macros call each other more than {_MAX_DEPTH} deep")


def _macro(model: Model) -> tuple[list[str], exp.Expression]:
    """A macro's parameter names and body."""
    tree = sqlglot.parse_one(model.body, read="duckdb")
    return [p.name for p in tree.this.expressions], tree.expression


# -- what may be rendered -----------------------------------------------------------------


_BY_HAND = {exp.RegexpLike, exp.RegexpFullMatch, exp.RegexpExtract, exp.RegexpReplace,
            exp.PercentileCont}


def _check(node: exp.Expression, engine: str, model: Model) -> None:
    if isinstance(node, _TRUSTED) or type(node) in _BY_HAND:
        if isinstance(node, exp.PercentileCont) and engine == "trino":
            raise NotPortable(f"{model.path} does not render for trino: quantile_cont() is "
                              "exact, Trino's approx_percentile() is not")
        return
    name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
    if name.lower() in _URL_DECODE:
        return
    raise NotPortable(f"{model.path} does not render for {engine}: {name.lower()}() is not "
                      "among the functions checked on other engines (a function of the "
                      "DuckDB session, such as ip_key, runs only there)")


# -- written by hand ----------------------------------------------------------------------


def _by_hand(node: exp.Expression, engine: str, model: Model) -> exp.Expression:
    if isinstance(node, exp.Anonymous) and node.name.lower() in _URL_DECODE:
        (key,) = node.expressions
        # every + kept (%2B), every % not starting an escape kept (%25), then decoded
        plus = exp.Anonymous(this="replace", expressions=[
            key.copy(), exp.Literal.string("+"), exp.Literal.string("%2B")])
        stray = exp.RegexpReplace(this=plus, expression=exp.Literal.string(
            "%(?![0-9A-Fa-f]{2})"), replacement=exp.Literal.string("%25"))
        return exp.Anonymous(this="url_decode", expressions=[stray])
    if isinstance(node, exp.RegexpLike):
        _no_flags(node, model)
        return _matches(node.this, java_regex(_pattern(node, model), engine))
    if isinstance(node, exp.RegexpFullMatch):
        _no_flags(node, model, "options")
        whole = f"^(?:{_pattern(node, model)})$"
        return _matches(node.this, java_regex(whole, engine))
    if isinstance(node, exp.RegexpExtract):
        return _extract(node, engine, model)
    if isinstance(node, exp.RegexpReplace):
        return _replace(node, engine, model)
    if isinstance(node, exp.PercentileCont):
        return exp.Anonymous(this="percentile", expressions=[node.this, node.expression])
    if isinstance(node, exp.Div):  # DuckDB's / divides as DOUBLE, whatever the operands
        return exp.Div(this=exp.cast(node.this, exp.DataType.build("double")),
                       expression=node.expression)
    if isinstance(node, exp.SplitPart) and engine == "trino":  # Trino: null past the end
        return _empty_not_null(node.this, node)
    return node


def _matches(subject: exp.Expression, pattern: str) -> exp.Expression:
    return exp.RegexpLike(this=subject, expression=exp.Literal.string(pattern))


def _extract(node: exp.RegexpExtract, engine: str, model: Model) -> exp.Expression:
    _no_flags(node, model, "parameters", "position", "occurrence")
    group = node.args.get("group") or exp.Literal.number(0)  # DuckDB's default: the match
    call = exp.RegexpExtract(this=node.this, expression=exp.Literal.string(
        java_regex(_pattern(node, model), engine)), group=group)
    if engine == "spark":  # like DuckDB, '' when it does not match
        return exp.Anonymous(this="regexp_extract", expressions=[
            call.this, call.expression, group])
    return _empty_not_null(node.this, call)  # Trino: null when it does not match


def _replace(node: exp.RegexpReplace, engine: str, model: Model) -> exp.Expression:
    """DuckDB replaces the first match (all with the 'g' option); Spark and Trino every
    match: the same when the pattern is anchored at the start, refused otherwise."""
    _no_flags(node, model, "position", "occurrence")
    flags = node.args.get("modifiers")
    every = isinstance(flags, exp.Literal) and flags.this == "g"
    pattern = _pattern(node, model)
    if flags is not None and not every:
        raise NotPortable(f"{model.path}: regexp_replace options other than 'g' are not "
                          "rendered for other engines")
    if not every and not pattern.startswith("^"):
        raise NotPortable(f"{model.path} does not render for {engine}: regexp_replace() "
                          "replaces the first match in DuckDB, every match elsewhere: anchor "
                          "the pattern with ^ or pass 'g'")
    replacement = node.args.get("replacement")
    if not isinstance(replacement, exp.Literal) or not replacement.is_string:
        raise NotPortable(f"{model.path}: regexp_replace() needs a literal replacement to be "
                          "rendered for other engines")
    return exp.RegexpReplace(this=node.this, expression=exp.Literal.string(
        java_regex(pattern, engine)), replacement=exp.Literal.string(
        java_replacement(replacement.this)))


def _empty_not_null(subject: exp.Expression, value: exp.Expression) -> exp.Expression:
    """'' where `value` is null but `subject` is not (DuckDB's answer for no match)."""
    return exp.Case(ifs=[exp.If(this=exp.Is(this=subject.copy(), expression=exp.Null()),
                                true=exp.Null())],
                    default=exp.Coalesce(this=value, expressions=[exp.Literal.string("")]))


def _pattern(node: exp.Expression, model: Model) -> str:
    pattern = node.expression
    if not isinstance(pattern, exp.Literal) or not pattern.is_string:
        raise NotPortable(f"{model.path}: a regular expression must be a literal to be "
                          "rendered for other engines (RE2 and Java differ)")
    return pattern.this


def _no_flags(node: exp.Expression, model: Model, *args: str) -> None:
    if any(node.args.get(a) is not None for a in args or ("flag",)):
        raise NotPortable(f"{model.path}: regular expression options are not rendered for "
                          "other engines")


def java_regex(pattern: str, engine: str) -> str:
    """An RE2 pattern (DuckDB's) meaning the same in Java's regular expressions (Spark's)
    or Trino's: `$` is the end of the text in RE2 and may stop before a final line break
    in Java, so it becomes `\\z`; RE2's `.` stops only at \\n, Java's at \\r and others
    too unless (?d) (Trino's already stops only at \\n, and refuses (?d))."""
    out, escaped, in_class = [], False, False
    for c in pattern:
        if escaped:
            out.append(c)
            escaped = False
        elif c == "\\":
            out.append(c)
            escaped = True
        elif in_class:
            out.append(c)
            in_class = c != "]" or out[-2:-1] == ["["]
        elif c == "[":
            out.append(c)
            in_class = True
        else:
            out.append("\\z" if c == "$" else c)
    return ("(?d)" if engine == "spark" else "") + "".join(out)


def java_replacement(text: str) -> str:
    """A DuckDB (RE2) replacement in Java's terms: \\1 is $1, a $ is literal."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(f"${nxt}" if nxt.isdigit() else "\\\\" if nxt == "\\" else nxt)
            i += 2
            continue
        out.append("\\$" if c == "$" else c)
        i += 1
    return "".join(out)


def _qualify(tree: exp.Expression, catalog: Catalog, database: str) -> None:
    names = set(catalog.models) | set(LAKE_TABLES)
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        if not table.args.get("db") and table.name in names and table.name not in ctes:
            table.set("db", exp.to_identifier(database))
