"""Spark reads the lake as DuckDB does: the generated Hive DDL (sql/hive/), the analyst
view rendered for Spark, and usage_daily and billing_daily run on Spark give DuckDB's
schema, counts and values, on one small lake made by the pipeline itself from generated
logs, hand-made edge cases and the conformance corpus (../shared/corpus, when present).

Every test shares one local Spark session (Hive metastore in Derby, warehouse and
metastore inside the module's temporary folder) and runs on one pytest-xdist worker
(`--dist loadgroup`). Without Java or pyspark the Spark tests are skipped with the reason,
except in CI (the CI environment variable set), where that fails. The renderer's refusals
and the `engines` header need no Spark and always run.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from duckdb import ColumnExpression, ConstantExpression

from pipelines.cli import main as cli
from pipelines.ingestion.ingest import ingest
from pipelines.ingestion.sources import LogSource
from pipelines.lake.store import LAKE_TABLES, Lake
from pipelines.sql import ddl, dialects, models
from pipelines.sql.catalog import CatalogError, load
from pipelines.sql.session import session
from pipelines.synthetic.synth import Profile, SynthConfig, write_objects
from tests.loglines import line

pytestmark = pytest.mark.xdist_group("spark")

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
CFG = SynthConfig(days=3, records_per_day=250, records_per_object=50,
                  profile=Profile(garbage=0.01, invalid_utf8=0.01, quote_in_user_agent=0.01))
DAYS = [CFG.start + timedelta(days=i) for i in range(CFG.days)]
LAST = DAYS[-1]
PORTABLE = ("usage_daily", "billing_daily", "transfer_out_daily")
# Values the derived columns must get right where DuckDB's SQL and Spark's differ: a + and
# a stray % kept by url_decode, bytes that are not UTF-8 (U+FFFD), RE2's end of text,
# first-match regexp_replace...
EDGES = [
    dict(key="a+b%2Bc%20d", requester="-"),
    dict(key="%ZZ%41%", requester="arn:aws:sts::111122223333:assumed-role/AWSServiceRole"
                                  "ForBackup/session"),
    dict(key="caf%C3%A9/%%41/x", requester="arn:aws-us-gov:sts::111122223333:assumed-role/"
                                           "R/s/extra"),
    dict(key="-", requester="f" * 64, remote_ip="-"),
    dict(key="flat", requester="f" * 63 + "g", operation="REST.GET.LISTOBJECTSV2"),
    dict(key="x/y", requester="svc:logging.s3.amazonaws.com", operation="S3.EXPIRE.OBJECT",
         http_status="-"),
    dict(key="k", requester="arn:aws:iam::cloudfront:user/CloudFront Origin Access Identity "
                            "E1ABC", operation="WEBSITE.GET.OBJECT", request_uri='"-"'),
    dict(key="k2", requester="arn:aws:iam::111122223333:root", remote_ip="10.1.2.3",
         operation="REST.DELETE.OBJECT", http_status="403", error_code="AccessDenied"),
    dict(key="k3", requester="user.example.amazonaws.com", remote_ip="fd00::1",
         operation="REST.COPY.OBJECT_GET", http_status="503"),
    dict(key="k4", requester="a" * 64 + "-x"),  # hex, then more: not a canonical user
    # a line break other than \n before the end: RE2's . and $ pass it, Java's stop there
    dict(key="k5\u2028", requester="arn:aws:sts::111122223333:assumed-role/R/s\r"),
    # 150 GB to the internet: the month's free 100 GB are used, billing's tiers apply
    dict(key="big/object", bytes_sent=str(150 << 30), object_size=str(150 << 30),
         remote_ip="203.0.113.9"),
    # escapes that are not UTF-8: DuckDB's url_decode fails, Java's decoder gives U+FFFD
    dict(key="a%FFb/c%20d"), dict(key="%C3%A9t%C3%A9"), dict(key="%"),
    dict(key="%ED%A0%80x%E2%82"),  # an encoded surrogate, a character cut short: one each
]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _skip_or_fail(why: str) -> None:
    if _in_ci():
        pytest.fail(f"{why} (CI is set: this is required in CI)", pytrace=False)
    pytest.skip(f"skipped: {why}")


# -- the lake and the session ----------------------------------------------------------------


@pytest.fixture(scope="module")
def lakes(tmp_path_factory) -> tuple[Lake, Lake]:
    """Lake A, with DuckDB's marts for LAST (and the summaries billing's window needed),
    and lake B, the same records for Spark's marts. Ingested by the pipeline: generated
    logs, the edge cases and the corpus as log objects of the first day."""
    root = tmp_path_factory.mktemp("spark_lake")
    write_objects(CFG, root / "logs")
    folder = root / "logs" / "logs"
    stamp = f"{DAYS[0]}-23-59"
    (folder / f"{stamp}-00-EDGE000000000000").write_bytes(b"\n".join(
        line(bucket=CFG.buckets[0], time=f"[{DAYS[0]:%d/%b/%Y}:08:00:{i:02d} +0000]",
             request_id=f"EDGE{i}", **edge) for i, edge in enumerate(EDGES)) + b"\n")
    for i, log in enumerate(sorted(CORPUS.glob("*.log")) if CORPUS.is_dir() else ()):
        (folder / f"{stamp}-{i % 60:02d}-CORPUS{i:010X}").write_bytes(log.read_bytes())
    a = Lake(str(root / "a"))
    report = ingest([LogSource(str(folder), layout="simple")], a, DAYS, progress=False)
    assert report.total("rows_quarantined") > 0  # the quarantine has rows to count
    b = Lake(str(root / "b"))
    shutil.copytree(a.path("access_logs"), b.path("access_logs"))
    models.run_models(a, LAST, LAST, ["usage_daily", "billing_daily"])
    return a, b


@pytest.fixture(scope="module")
def spark(tmp_path_factory):
    """One local Spark session with a Hive metastore (Derby) of the module's own."""
    if shutil.which("java") is None:
        _skip_or_fail("the Spark tests need `java` on PATH (Java 17: `make java`, or "
                      "apt-get install openjdk-17-jre-headless)")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        _skip_or_fail("the Spark tests need pyspark (pip install -e '.[spark]')")
    tmp = tmp_path_factory.mktemp("spark")
    session_ = (
        SparkSession.builder.master("local[1]").appName("s3logs-tests")
        .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.warehouse.dir", str(tmp / "warehouse"))
        .config("spark.hadoop.javax.jdo.option.ConnectionURL",
                f"jdbc:derby:;databaseName={tmp / 'metastore_db'};create=true")
        # small data: the JIT's first tier only, so the JVM warms up in seconds
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={tmp / 'derby'} "
                "-Dderby.system.durability=test -XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .enableHiveSupport().getOrCreate())
    session_.sparkContext.setLogLevel("ERROR")
    yield session_
    session_.stop()


def duck_type(duckdb_type: str) -> str:
    """The Spark type a DuckDB column must read as (written out here, not taken from
    pipelines.sql.ddl, so the DDL's mapping is checked against another one)."""
    t = duckdb_type.strip()
    if t.endswith("[]"):
        return f"array<{duck_type(t[:-2])}>"
    if m := re.fullmatch(r"STRUCT\((.*)\)", t):
        fields = [f.split(" ", 1) for f in re.split(r",\s*(?![^()]*\))", m.group(1))]
        return "struct<" + ",".join(f"{n.strip(chr(34))}:{duck_type(v)}" for n, v in fields) + ">"
    if m := re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t):
        return f"decimal({m.group(1)},{m.group(2)})"
    return {"VARCHAR": "string", "BIGINT": "bigint", "INTEGER": "int", "SMALLINT": "smallint",
            "TINYINT": "tinyint", "BOOLEAN": "boolean", "DOUBLE": "double", "BLOB": "binary",
            "TIMESTAMP WITH TIME ZONE": "timestamp", "DATE": "date"}[t]


def same(x, y) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    return x == y


# -- (a) the generated DDL -------------------------------------------------------------------


def test_the_hive_ddl_reads_the_lake_as_duckdb_does(spark, lakes):
    """Every table of sql/hive/, created over lake A: DuckDB's columns and types, `dt` a
    string, nothing until MSCK REPAIR TABLE, then DuckDB's count in every partition."""
    a, _ = lakes
    catalog = load()
    root = f"file:{Path(a.path()).resolve()}"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {ddl.DATABASE}")
    con = session(a)
    counted = []
    for table in ddl.tables(catalog):
        spark.sql(ddl.create_table(table, "hive", root))
        name = f"{ddl.DATABASE}.{table.name}"
        duck = con.table(table.name)
        expected = {c: duck_type(str(t)) for c, t in zip(duck.columns, duck.types)}
        got = {f.name: f.dataType.simpleString() for f in spark.table(name).schema}
        assert got == expected, table.name
        docs = LAKE_TABLES[table.name].docs if table.name in LAKE_TABLES else \
            catalog[table.name].columns  # every comment as written, quotes and all
        assert {f.name: f.metadata.get("comment") for f in spark.table(name).schema} == {
            c: docs[c] for c in duck.columns}, table.name
        parts = [p.name for p in table.partitions]
        assert parts[0] == "dt" and all(got[p] == "string" for p in parts)
        if table.name == "lake_access_logs":
            assert spark.table(name).count() == 0  # what users met: no partition yet
            day, bucket = LAST.isoformat(), CFG.buckets[0]  # one day, without a listing
            spark.sql(ddl.add_partition(table, {"dt": day, "bucket": bucket}, root))
            one = (ColumnExpression("dt") == ConstantExpression(day)) & (
                ColumnExpression("bucket") == ConstantExpression(bucket))
            assert spark.table(name).count() == duck.filter(one).count("*").fetchall()[0][0] > 0
        spark.sql(ddl.repair(table, "hive"))
        counted.append((table.name, parts, duck))
    from pyspark.sql import functions as F

    frames, duck_counts = [], set()
    for table_name, parts, duck in counted:  # one Spark job for every table's partitions
        frames.append(spark.table(f"{ddl.DATABASE}.{table_name}").groupBy(*parts).count()
                      .select(F.lit(table_name), F.concat_ws("/", *parts), "count"))
        duck_counts |= {(table_name, "/".join(r[:-1]), r[-1]) for r in duck.aggregate(
            ", ".join([*parts, "count(*)"]), ", ".join(parts)).fetchall()}
    union = frames[0]
    for frame in frames[1:]:
        union = union.unionAll(frame)
    spark_counts = {tuple(r) for r in union.collect()}
    assert spark_counts == duck_counts
    assert {t for t, *_ in duck_counts} >= {"lake_access_logs", "quarantine", *PORTABLE}


def test_the_athena_ddl_is_hive_ddl_spark_accepts(spark, lakes):
    """Athena's flavour is Hive DDL too: Spark creates it, projection properties intact."""
    a, _ = lakes
    table = ddl.tables(load())[0]
    spark.sql("CREATE DATABASE IF NOT EXISTS athena_check")
    spark.sql("USE athena_check")
    try:
        spark.conf.set("spark.sql.variable.substitute", "false")  # keep ${dt} as written
        text = ddl.create_table(table, "athena", f"file:{Path(a.path()).resolve()}")
        spark.sql(text.replace(f"{ddl.DATABASE}.", "athena_check.", 1))
        props = dict(spark.sql(f"SHOW TBLPROPERTIES athena_check.{table.name}").collect())
        assert props["projection.bucket.type"] == "injected"
        assert props["storage.location.template"].endswith("/dt=${dt}/bucket=${bucket}/")
    finally:
        spark.conf.set("spark.sql.variable.substitute", "true")
        spark.sql("USE default")


# -- (b) the analyst view --------------------------------------------------------------------


def _derived(rows: pa.Table) -> dict:
    key = ("dt", "bucket", "record_id")
    return {tuple(r[k] for k in key): r for r in rows.to_pylist()}


@pytest.fixture(scope="module")
def views(spark, lakes) -> tuple[dict, dict, list[str]]:
    """Each record's derived columns, by DuckDB's view and by Spark's, over lake A."""
    from pipelines.sql import spark as spark_engine

    a, _ = lakes
    catalog = load()
    spark_engine.configure(spark)
    spark_engine.install(spark, a, catalog, [catalog["usage_daily"]], "0000", "9999")
    derived = list(catalog["access_logs"].columns)
    cols = ["dt", "bucket", "record_id", "source_key", *derived]
    theirs = _derived(spark.table("access_logs").select(*cols).toArrow())
    ours = _derived(session(a).table("access_logs").select(*cols).to_arrow_table())
    return ours, theirs, derived


def test_every_derived_column_is_duckdbs_on_spark(views):
    ours, theirs, derived = views
    assert len(ours) > 1000 and theirs.keys() == ours.keys()
    wrong = [(k[2].hex()[:8], c, ours[k][c], theirs[k][c]) for k in ours for c in derived
             if ours[k][c] != theirs[k][c]]
    assert not wrong, wrong[:10]
    edges = [r for r in ours.values() if "EDGE" in r["source_key"]]
    assert len(edges) == len(EDGES)
    assert {r["key_decoded"] for r in edges} >= {"a+b+c d", "%ZZA%", "café/%A/x",
                                                 "a\ufffdb/c d", "été", "%", "\ufffdx\ufffd"}
    assert {r["requester_type"] for r in ours.values()} >= {
        "anonymous", "iam_user", "assumed_role", "iam_root", "aws_service", "canonical_user",
        "other"}


def test_the_conformance_corpus_is_compared_too(views):
    if not CORPUS.is_dir():
        _skip_or_fail(f"the conformance corpus is not at {CORPUS}: place the shared corpus "
                      "(../shared/corpus) beside this checkout to compare its records too")
    ours, _, _ = views
    assert sum("CORPUS" in r["source_key"] for r in ours.values()) >= 20


# -- (c) the models ----------------------------------------------------------------------------


def test_usage_and_billing_on_spark_are_duckdbs(spark, lakes, capsys):
    """`s3logs models run --engine spark` on lake B: the same marts, value for value
    (floats within 1e-9), billing's month computed first from the records as in DuckDB."""
    a, b = lakes
    assert cli(["models", "run", "--engine", "spark", "--days", LAST.isoformat(),
                "--lake", b.path()]) == 0
    out = capsys.readouterr().out
    assert "computed first, for a window: transfer_out_daily" in out
    for model in PORTABLE:
        ours = sorted(p.split("/marts/")[1] for p in a.files(f"marts/{model}"))
        assert ours and ours == sorted(p.split("/marts/")[1] for p in b.files(f"marts/{model}"))
        for name in ours:
            x = pq.read_table(a.path("marts", name))
            y = pq.read_table(b.path("marts", name))
            assert x.schema == y.schema, name
            wrong = [(c, i, u, v) for c in x.column_names
                     for i, (u, v) in enumerate(zip(x[c].to_pylist(), y[c].to_pylist()))
                     if not same(u, v)]
            assert x.num_rows == y.num_rows and not wrong, (name, wrong[:5])


def test_a_teams_portable_model_runs_on_spark_as_in_duckdb(spark, lakes, tmp_path):
    """A model of a team's own folder that declares spark: DuckDB divides as DOUBLE where
    Spark would keep a decimal's six digits, so the rendering casts."""
    from pipelines.sql import spark as spark_engine

    a, _ = lakes
    catalog = _catalog_with(tmp_path, "team_model", MODEL_HEADER,
                            "SELECT dt, bucket, count(*) / 3.0 AS x FROM access_logs "
                            "WHERE dt BETWEEN $start_date AND $end_date GROUP BY ALL")
    model = catalog["team_model"]
    spark_engine.install(spark, a, catalog, [model], LAST.isoformat(), LAST.isoformat())
    theirs = spark_engine.query(spark, catalog, model, LAST, LAST).to_pylist()
    ours = models.query(session(a, catalog), model, LAST, LAST).to_pylist()
    assert len(ours) == len(CFG.buckets) and [r["x"] for r in ours] == pytest.approx(
        [r["x"] for r in theirs], rel=1e-12)


# -- what does not run elsewhere (no Spark needed) -------------------------------------------


def _catalog_with(tmp_path: Path, name: str, header: str, sql: str):
    folder = tmp_path / "team"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.sql").write_text(f"MODEL (\n  name {name},\n{header}\n);\n{sql}\n")
    return load(extra=folder)


MODEL_HEADER = """  kind INCREMENTAL_BY_TIME_RANGE (time_column dt),
  engines (duckdb, spark),
  grain (dt, bucket),
  description 'A test model.',
  column_descriptions (dt = 'Day.', bucket = 'Bucket.', x = 'What.')"""


@pytest.mark.parametrize("expression, why", [
    ("list(key ORDER BY request_time)", "drops an ORDER BY"),
    ("isodow(CAST(dt AS DATE))", "wrong day numbers"),
    ("ip_key(remote_ip)", "ip_key"),
    ("regexp_replace(key, 'a', 'b')", "first match"),
    ("regexp_matches(key, requester)", "must be a literal"),
    ("max(key)", "max.. is not among the functions checked"),
])
def test_what_sqlglot_gets_wrong_is_refused_not_rendered(tmp_path, expression, why):
    catalog = _catalog_with(tmp_path, "team_model", MODEL_HEADER,
                            f"SELECT dt, bucket, {expression} AS x FROM access_logs "
                            "WHERE dt BETWEEN $start_date AND $end_date GROUP BY ALL")
    with pytest.raises(dialects.NotPortable, match=why):
        dialects.render(catalog, catalog["team_model"], "spark")


def test_a_model_runs_only_where_its_header_and_what_it_reads_say(tmp_path):
    catalog = load()
    with pytest.raises(CatalogError, match=r"usage_hourly.sql does not run on spark: its "
                                           r"header says engines \(duckdb\)"):
        dialects.render(catalog, catalog["usage_hourly"], "spark")
    on_trino = dataclasses.replace(catalog["usage_daily"], engines=("duckdb", "trino"))
    with pytest.raises(dialects.NotPortable, match="approx_percentile"):
        dialects.render(catalog, on_trino, "trino")
    team = _catalog_with(tmp_path, "access_logs", """  kind VIEW,
  description 'A team''s own view, DuckDB only.',
  column_descriptions (extra = 'x')""", "SELECT *, 1 AS extra FROM lake_access_logs")
    with pytest.raises(CatalogError, match="it reads access_logs .* engines \\(duckdb\\)"):
        team.check_engine(team["usage_daily"], "spark")
    assert load().engines(load()["billing_daily"]) == ("duckdb", "spark")


@pytest.mark.parametrize("engines, message", [
    ("(duckdb, flink)", "engine flink is not one of duckdb, spark, trino"),
    ("(spark)", "engines must name duckdb"),
    ("(duckdb, duckdb)", "names an engine twice"),
    ("('duckdb')", "a list of engine names"),
])
def test_the_engines_header_is_checked(tmp_path, engines, message):
    with pytest.raises(CatalogError, match=f"line 4: .*{message}"):
        _catalog_with(tmp_path, "team_model", MODEL_HEADER.replace(
            "(duckdb, spark)", engines), "SELECT dt, bucket, 1 AS x FROM access_logs "
            "WHERE dt BETWEEN $start_date AND $end_date")
