"""The shipped Athena DDL parses and matches the lake: same columns, same layout."""

from pathlib import Path

import sqlglot
from sqlglot import exp

from pipelines.lake.store import LAKE_SCHEMA

DDL = Path(__file__).resolve().parents[1] / "sql" / "athena" / "access_logs.hql"


def test_athena_ddl_parses_and_matches_the_lake_schema():
    statement = sqlglot.parse_one(DDL.read_text(), read="athena")
    assert isinstance(statement, exp.Create)
    columns = [c.name for c in statement.find_all(exp.ColumnDef)]
    assert columns == LAKE_SCHEMA.names + ["dt", "bucket"]
    text = DDL.read_text()
    assert "dt=${dt}/bucket=${bucket}/" in text and "'projection.enabled' = 'true'" in text
