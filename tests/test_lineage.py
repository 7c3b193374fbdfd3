"""A model depends on what its SQL reads, from its syntax tree: a table read anywhere (a
FROM, a JOIN, a subquery, a CTE's body) is a dependency, a CTE, an alias or a column that
shares a model's name is not, and a macro is one when it is called."""

from __future__ import annotations

import pytest

from pipelines.sql import lineage
from pipelines.sql.catalog import Kind, load
from tests.helpers import GOOD, catalog_of

READS = {  # SQL -> the tables it reads
    "SELECT * FROM usage_daily": {"usage_daily"},
    "SELECT * FROM main.usage_daily JOIN prices ON true": {"usage_daily", "prices"},
    "WITH usage_daily AS (SELECT * FROM lake_access_logs) SELECT * FROM usage_daily":
        {"lake_access_logs"},
    "SELECT usage_daily.bucket FROM lake_access_logs AS usage_daily": {"lake_access_logs"},
    "SELECT bucket AS usage_daily, 'usage_daily' FROM t -- FROM usage_daily": {"t"},
    "SELECT * FROM t WHERE bucket IN (SELECT bucket FROM usage_daily)": {"t", "usage_daily"},
    "SELECT (SELECT max(requests) FROM usage_daily) AS most": {"usage_daily"},
    "SELECT * FROM t WHERE EXISTS (SELECT 1 FROM usage_daily AS u WHERE u.dt = t.dt)":
        {"t", "usage_daily"},
    "WITH a AS (SELECT * FROM usage_daily) SELECT * FROM a": {"usage_daily"},
    "WITH a AS (SELECT * FROM usage_daily) SELECT * FROM (WITH b AS (SELECT * FROM a) "
    "SELECT * FROM b) AS c": {"usage_daily"},
    # a CTE is seen by the query and the CTEs after it, not by those before it
    "WITH b AS (SELECT * FROM a), a AS (SELECT 1) SELECT * FROM b": {"a"},
    # a CTE's own body reads the table it is named after (unless RECURSIVE)
    "WITH usage_daily AS (SELECT * FROM usage_daily) SELECT * FROM usage_daily":
        {"usage_daily"},
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) "
    "SELECT * FROM r": set(),
    "SELECT * FROM a UNION ALL SELECT * FROM b": {"a", "b"},
    "SELECT * FROM cost_by('bucket', $start_date, $end_date)": set(),
}


@pytest.mark.parametrize("sql", sorted(READS))
def test_the_tables_a_statement_reads(sql):
    (statement,) = lineage.read(sql)
    assert statement.tables == READS[sql]


def test_calls_parameters_and_a_macros_own_name():
    (query,) = lineage.read("SELECT request_tier(operation) AS tier, request_tier_name, "
                            "x.* FROM cost_by('bucket', $start_date, $end_date) AS x "
                            "WHERE note <> '$not_a_parameter'")
    assert {"request_tier", "cost_by"} <= query.calls
    assert "request_tier_name" not in query.calls and query.tables == set()
    assert query.parameters == {"start_date", "end_date"} and query.query
    (macro,) = lineage.read("CREATE OR REPLACE MACRO busiest(d) AS TABLE "
                            "SELECT * FROM usage_daily WHERE dt = d")
    assert macro.macro == "busiest" and macro.tables == {"usage_daily"} and not macro.query
    assert lineage.read("-- only a comment\n") == ()
    with pytest.raises(lineage.SqlError) as e:
        lineage.read("SELECT 1\nFROM WHERE")
    assert e.value.line == 2 and "WHERE" in str(e.value)


def _reader(sql: str) -> str:
    """A second model, `total_requests`, whose SQL is `sql` (which must return its
    columns and select its days)."""
    return GOOD.replace("requests_per_bucket", "total_requests").replace(
        GOOD[GOOD.index("SELECT"):], sql)


def _catalog_with(tmp_path, sql: str, *more: tuple[str, str]):
    catalog_of(tmp_path, GOOD)
    for name, text in more:
        catalog_of(tmp_path, text, name)
    return catalog_of(tmp_path, _reader(sql), "total_requests")


def test_a_cte_or_alias_named_like_a_model_makes_no_dependency(tmp_path):
    catalog = _catalog_with(tmp_path, """
WITH requests_per_bucket AS (
    SELECT dt, bucket, count(*) AS requests FROM lake_access_logs
    WHERE dt BETWEEN $start_date AND $end_date GROUP BY ALL)
SELECT requests_per_bucket.dt, requests_per_bucket.bucket,
       sum(requests_per_bucket.requests) AS requests
FROM requests_per_bucket
GROUP BY ALL
HAVING sum(requests) >= $min_requests
UNION ALL
SELECT requests_per_bucket.dt, requests_per_bucket.bucket, 0 AS requests
FROM lake_access_logs AS requests_per_bucket
WHERE false
""")
    assert catalog.reads(catalog["total_requests"], *Kind) == []
    names = [m.name for m in catalog.ordered(Kind.MODEL)]
    assert set(names) == {"requests_per_bucket", "total_requests"}


def test_a_model_read_in_a_subquery_or_a_cte_body_is_a_dependency(tmp_path):
    for i, sql in enumerate(["""
WITH per_bucket AS (SELECT * FROM requests_per_bucket)
SELECT dt, bucket, sum(requests) AS requests FROM per_bucket
WHERE dt BETWEEN $start_date AND $end_date GROUP BY ALL HAVING sum(requests) >= $min_requests
""", """
SELECT dt, bucket, count(*) AS requests FROM lake_access_logs
WHERE dt BETWEEN $start_date AND $end_date
  AND bucket IN (SELECT bucket FROM requests_per_bucket)
GROUP BY ALL HAVING count(*) >= $min_requests
"""]):
        catalog = _catalog_with(tmp_path / str(i), sql)
        assert catalog.reads(catalog["total_requests"], Kind.MODEL) == ["requests_per_bucket"]
        assert [m.name for m in catalog.ordered(Kind.MODEL)] == [
            "requests_per_bucket", "total_requests"]  # what it reads comes first


MACRO = """MODEL (name bucket_label, kind MACRO, description 'A bucket, labelled.');
CREATE OR REPLACE MACRO bucket_label(b) AS upper(b)
"""


def test_a_macro_is_a_dependency_when_called_not_when_a_column_shares_its_name(tmp_path):
    called = _catalog_with(tmp_path / "a", """
SELECT dt, bucket_label(bucket) AS bucket, count(*) AS requests FROM lake_access_logs
WHERE dt BETWEEN $start_date AND $end_date GROUP BY ALL HAVING count(*) >= $min_requests
""", ("bucket_label", MACRO))
    assert called.reads(called["total_requests"], Kind.MACRO) == ["bucket_label"]
    named = _catalog_with(tmp_path / "b", """
SELECT dt, bucket, count(*) AS requests FROM (
    SELECT dt, bucket AS bucket_label, bucket FROM lake_access_logs)
WHERE dt BETWEEN $start_date AND $end_date AND bucket_label IS NOT NULL
GROUP BY ALL HAVING count(*) >= $min_requests
""", ("bucket_label", MACRO))
    assert named.reads(named["total_requests"], *Kind) == []


def test_sql_sqlglot_cannot_read_is_one_sentence_naming_the_file_and_line(tmp_path):
    from pipelines.sql.catalog import CatalogError

    with pytest.raises(CatalogError) as e:
        catalog_of(tmp_path, GOOD.replace("GROUP BY ALL", "GROUP BY ALL ((("))
    message = str(e.value)  # the line of the file, past the header and its $parameters
    assert message == ("custom/requests_per_bucket.sql: line 17: sqlglot cannot parse it "
                       "near 'HAVING': write the SQL in DuckDB's syntax")


def test_the_shipped_catalog_is_ordered_after_what_each_entry_reads():
    catalog = load()
    order = [m.name for m in catalog.ordered(Kind.MACRO, Kind.VIEW, Kind.MODEL)]
    assert sorted(order) == sorted(m.name for m in catalog.of(Kind.MACRO, Kind.VIEW,
                                                                Kind.MODEL))
    for position, name in enumerate(order):
        for read in catalog.reads(catalog[name], Kind.MACRO, Kind.VIEW, Kind.MODEL):
            assert order.index(read) < position, f"{name} comes before {read}, which it reads"


def test_the_asset_graph_follows_what_the_sql_reads():
    """Each model asset waits for exactly the models its SQL reads, and the report's
    queries and models read three models, not every one (assets/report.py's deps)."""
    import dagster as dg

    from assets.definitions import defs
    from assets.models import CATALOG, read_by

    graph = defs.resolve_asset_graph()
    for model in CATALOG.of(Kind.MODEL):
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey(model.name)).parent_keys}
        assert parents == {"access_logs", *CATALOG.reads(model, Kind.MODEL)}, model.name
    report = ("daily_by_bucket", "latency_daily", "billing_daily", "security_findings",
              "usage_top_n")  # what pipelines/report.py runs
    assert {a.key.to_user_string() for a in read_by(*report)} == {
        "billing_daily", "security_findings", "usage_top_n"}
