"""The generated DDL (sql/athena/, sql/hive/) parses and matches the lake: every table a
user queries, the same columns in the same order, `dt` a string partition everywhere,
projection for Athena and MSCK REPAIR for the rest, and the analyst view in each engine's
SQL. (tests/test_docs.py keeps the files current; tests/test_spark.py runs them.)"""

from pathlib import Path

import sqlglot
from sqlglot import exp

from pipelines.cli import main as cli
from pipelines.lake.store import LAKE_SCHEMA
from pipelines.sql import ddl
from pipelines.sql.catalog import Kind, load

ROOT = Path(__file__).resolve().parents[1]
ATHENA, HIVE = ROOT / "sql" / "athena", ROOT / "sql" / "hive"
DIALECT = {"athena": "athena", "hive": "spark"}


def statements(path: Path, flavour: str) -> list[exp.Expression]:
    return [s for s in sqlglot.parse(path.read_text(), read=DIALECT[flavour]) if s]


def test_the_athena_ddl_parses_and_matches_the_lake_schema():
    (statement,) = statements(ATHENA / "lake_access_logs.hql", "athena")
    assert isinstance(statement, exp.Create)
    columns = [c.name for c in statement.find_all(exp.ColumnDef)]
    assert columns == LAKE_SCHEMA.names + ["dt", "bucket"]
    text = (ATHENA / "lake_access_logs.hql").read_text()
    assert "dt=${dt}/bucket=${bucket}/" in text and "'projection.enabled' = 'true'" in text
    assert "`dt` string" in text and "'projection.bucket.type' = 'injected'" in text


def test_every_table_a_user_queries_has_both_flavours():
    catalog = load()
    names = {"lake_access_logs", "quarantine", *(m.name for m in catalog.of(Kind.MODEL))}
    for folder, flavour in ((ATHENA, "athena"), (HIVE, "hive")):
        assert {p.stem for p in folder.glob("*.hql")} == names | {"access_logs"}
        for name in names:
            parsed = statements(folder / f"{name}.hql", flavour)
            create, *rest = parsed
            assert isinstance(create, exp.Create) and create.this.this.name == name
            text = (folder / f"{name}.hql").read_text()
            assert "PARTITIONED BY (`dt` string" in text, name
            projected = flavour == "athena" and name != "quarantine"
            assert ("'projection.dt.type' = 'date'" in text) == projected, name
            assert (f"MSCK REPAIR TABLE s3logs.{name};" in text) == (not projected), name
            assert len(rest) == (0 if projected else 1), name


def test_the_view_is_rendered_for_each_engine_with_every_derived_column():
    derived = list(load()["access_logs"].columns)
    for folder, flavour in ((ATHENA, "athena"), (HIVE, "hive")):
        (view,) = statements(folder / "access_logs.hql", flavour)
        assert isinstance(view, exp.Create) and view.kind == "VIEW"
        assert [s.alias for s in view.expression.selects[1:]] == derived
        assert {t.sql() for t in view.expression.find_all(exp.Table)} == {
            "s3logs.lake_access_logs"}
    text = (HIVE / "access_logs.hql").read_text()
    assert "URL_DECODE(REGEXP_REPLACE(REPLACE(key, '+', '%2B')" in text and "RLIKE" in text
    assert "REQUEST_TIER" not in text.upper().replace("AS REQUEST_TIER", "")  # inlined
    trino = (ATHENA / "access_logs.hql").read_text()  # null where DuckDB says '': coalesced
    assert "COALESCE(SPLIT_PART(operation, '.', 2), '')" in trino
    assert "COALESCE(REGEXP_EXTRACT(requester, 'assumed-role/([^/]+)/', 1), '')" in trino
    assert "(?d)" not in trino and "(?d)" in text  # Trino refuses the flag Java needs


def test_texts_are_quoted_as_hive_reads_them():
    assert ddl.quote("the server's \\ path") == "'the server\\'s \\\\ path'"
    parsed = sqlglot.parse_one(f"SELECT {ddl.quote(chr(39) + 'x' + chr(92))}", read="spark")
    assert parsed.selects[0].this == "'x\\"


def test_the_command_prints_the_ddl_for_a_lake(tmp_path, capsys):
    lake = tmp_path / "my lake"
    assert cli(["models", "ddl", "hive", "--lake", str(lake)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CREATE DATABASE IF NOT EXISTS s3logs;")
    assert f"LOCATION 'file:{lake.resolve()}/access_logs/'" in out
    assert out.count("MSCK REPAIR TABLE") == len(ddl.tables(load()))
    assert cli(["models", "ddl", "athena", "--lake", "s3://my-lake/s3logs"]) == 0
    assert "'s3://my-lake/s3logs/access_logs/dt=${dt}/bucket=${bucket}/'" in \
        capsys.readouterr().out
