"""The SQL catalog: headers are read and checked at load time, grains are audited, results
are split into days by dt (tests/test_docs.py keeps the generated model tables current)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from pipelines.sql import checks, models
from pipelines.sql.catalog import CatalogError, Kind, load
from pipelines.sql.session import columns
from tests.helpers import GOOD, D, catalog_of, make_lake
from tests.helpers import fixture_bucket_requests as req

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_catalog_compiles_and_documents_every_column():
    """Every SQL file of the package is an entry (the files are the registry: no list of
    models to keep here), and every entry's columns are documented."""
    catalog = load()
    documented = columns(catalog)
    sql = ROOT / "sql"
    files = {p.stem for p in sql.rglob("*.sql")
             if not any(part.startswith("_") for part in p.relative_to(sql).parts)}
    assert set(catalog.models) == files and catalog.of(Kind.MODEL)
    for model in catalog.of(Kind.MODEL, Kind.VIEW, Kind.SEED, Kind.QUERY):
        assert documented[model.name] and all(c.doc for c in documented[model.name]), model


def test_a_good_header_is_read_whole(tmp_path):
    model = catalog_of(tmp_path, GOOD)["requests_per_bucket"]
    assert model.kind == Kind.MODEL and model.grain == ("dt", "bucket")
    assert model.parameters == {"min_requests": 1} and model.subject == "custom"
    assert model.columns["requests"] == "Number of requests."
    assert model.bind("2026-11-01", "2026-11-02", min_requests=5) == {
        "min_requests": 5, "start_date": "2026-11-01", "end_date": "2026-11-02"}
    with pytest.raises(CatalogError, match="takes no parameter 'top_n'"):
        model.bind("2026-11-01", "2026-11-02", top_n=3)
    assert model.window.first_day(date(2026, 11, 5), {}) == date(2026, 11, 5)  # its days


def test_a_window_says_which_earlier_days_a_model_reads(tmp_path):
    days = catalog_of(tmp_path / "a", GOOD.replace(
        "grain (dt, bucket),", "grain (dt, bucket), window (days = min_requests),"))
    month = catalog_of(tmp_path / "b", GOOD.replace(
        "grain (dt, bucket),", "grain (dt, bucket), window (month),"))
    model = days["requests_per_bucket"]
    assert model.window.first_day(date(2026, 11, 5), model.bind("x", "y")) == date(2026, 11, 4)
    assert model.window.first_day(date(2026, 11, 5), {"min_requests": 10}) == date(2026, 10, 26)
    assert month["requests_per_bucket"].window.first_day(date(2026, 11, 5), {}) == date(
        2026, 11, 1)
    assert "its days and the `min_requests` days before" in days.markdown_table()


BROKEN = {  # what is wrong -> (the file's text, what the error must say)
    "a window naming no parameter": (
        GOOD.replace("grain (dt, bucket),", "grain (dt, bucket), window (days = lookback),"),
        "window is (month), (all), (days = N) or (days = PARAMETER)"),
    "a window of text": (
        GOOD.replace("grain (dt, bucket),", "grain (dt, bucket), window (days = '7'),"),
        "window is (month), (all), (days = N) or (days = PARAMETER)"),
    "a column without a doc": (GOOD.replace("    requests = 'Number of requests.'\n", "")
                               .replace("bucket = 'Source bucket.',", "bucket = 'Source bucket.'"),
                               "column requests has no entry in column_descriptions"),
    "a doc for a column the SQL does not return": (
        GOOD.replace(", count(*) AS requests", ""),
        "names requests, which the SQL does not return"),
    "an undeclared parameter": (GOOD.replace(">= $min_requests", ">= $minimum"),
                                "uses $minimum, which the header does not declare"),
    "a declared parameter never used": (GOOD.replace("HAVING count(*) >= $min_requests", ""),
                                        "parameter min_requests is declared but the SQL never"),
    "a grain column without a doc": (GOOD.replace("grain (dt, bucket)", "grain (dt, region)"),
                                     "grain column region has no column description"),
    "nullable outside the grain": (GOOD.replace("grain (dt, bucket),",
                                                "grain (dt, bucket), nullable (requests),"),
                                   "nullable may only name grain columns"),
    "a name that is not the file's": (GOOD.replace("name requests_per_bucket",
                                                   "name something_else"),
                                      "must be the file's name"),
    "an unknown kind": (GOOD.replace("INCREMENTAL_BY_TIME_RANGE (time_column dt)", "TABLE"),
                        "kind TABLE is not one of"),
    "no day range": (GOOD.replace("WHERE dt BETWEEN $start_date AND $end_date", ""),
                     "selects its days with $start_date and $end_date"),
    "a syntax error in the header": (GOOD.replace("grain (dt, bucket),", "grain (dt, bucket)"),
                                     "line 5: expected , or ) but found 'parameters'"),
    "no header at all": (GOOD[GOOD.index("SELECT"):], "must start with a MODEL"),
    "a property the kind does not take": (GOOD.replace("kind INCREMENTAL_BY_TIME_RANGE "
                                                       "(time_column dt)", "kind VIEW"),
                                          "a VIEW takes no `grain`"),
    "two statements": (GOOD + "; SELECT 1", "must be one statement"),
    "a header without its ;": (GOOD.replace(");\nSELECT", ")\nSELECT"),
                               "the header must end with `);` before the SQL"),
    "an empty column doc": (GOOD.replace("'Number of requests.'", "''"),
                            "column_descriptions is a list of `column = 'what it means'`"),
    "a bare word for a doc": (GOOD.replace("'Number of requests.'", "requests"),
                              "column_descriptions is a list of `column = 'what it means'`"),
    "a column name that is not lower case": (
        GOOD.replace("requests = 'Number", "Requests = 'Number")
        .replace("count(*) AS requests", 'count(*) AS "Requests"'),
        "Requests is not a lower-case name"),
    "a nullable dt": (GOOD.replace("grain (dt, bucket),", "grain (dt, bucket), nullable (dt),"),
                      "dt cannot be nullable"),
    "dt as a date": (GOOD.replace("SELECT dt, bucket", "SELECT CAST(dt AS DATE) AS dt, bucket"),
                     "dt must be the day as text"),
    "a column the lake does not have": (GOOD.replace("SELECT dt, bucket", "SELECT dt, bukket"),
                                        'Referenced column "bukket" not found'),
}


@pytest.mark.parametrize("problem", sorted(BROKEN))
def test_a_broken_header_is_one_sentence_naming_the_file(tmp_path, problem):
    text, expected = BROKEN[problem]
    with pytest.raises(CatalogError) as e:
        catalog_of(tmp_path, text)
    message = str(e.value)
    assert message.startswith("custom/requests_per_bucket.sql: "), message
    assert expected in message, message
    assert "\n" not in message


def test_an_object_whose_dependency_never_appears_is_named(tmp_path):
    text = GOOD.replace("FROM lake_access_logs", "FROM no_such_table")
    with pytest.raises(CatalogError, match=r"^custom/requests_per_bucket.sql: .*no_such_table"):
        catalog_of(tmp_path, text)


def test_grain_audit_returns_the_offending_rows(tmp_path):
    model = catalog_of(tmp_path, GOOD.replace("grain (dt, bucket),",
                                              "grain (dt, bucket), nullable (bucket),"))[
        "requests_per_bucket"]
    ok = pa.table({"dt": ["2026-11-01", "2026-11-01", "2026-11-01"], "bucket": ["a", "b", None],
                   "requests": [1, 2, 3]})
    assert checks.grain(model, ok).passed
    twice = pa.table({"dt": ["2026-11-01", "2026-11-01", "2026-11-01", None],
                      "bucket": [None, None, "b", "c"], "requests": [1, 2, 3, 4]})
    result = checks.grain(model, twice)
    assert not result.passed and result.severity == checks.ERROR
    rows = sorted(result.offending.to_pylist(), key=lambda r: r["requests"])
    assert rows == [  # the offending rows themselves, each once, saying what is wrong
        {"dt": "2026-11-01", "bucket": None, "requests": 1, "problem": "repeated grain key"},
        {"dt": "2026-11-01", "bucket": None, "requests": 2, "problem": "repeated grain key"},
        {"dt": None, "bucket": "c", "requests": 4, "problem": "null in the grain"}]
    both = pa.table({"dt": [None, None], "bucket": ["x", "x"], "requests": [1, 2]})
    assert checks.grain(model, both).offending["problem"].to_pylist() == [
        "repeated grain key, null in the grain"] * 2
    assert checks.grain_spec(model).description == "One row per (dt, bucket); no null in dt."


def test_results_are_split_by_dt_whatever_their_order(tmp_path):
    """The old runner cut results by position and needed ORDER BY dt; now order is free."""
    d2 = date(2026, 11, 11)
    lake = make_lake(tmp_path, {D: req(D, 3), d2: req(d2, 5, bucket="other-bucket")})
    text = GOOD + "ORDER BY dt DESC, bucket DESC\n"
    catalog = catalog_of(tmp_path, text)
    run = models.run_model(lake, "requests_per_bucket", D, d2, catalog=catalog)
    assert run.audit.passed and run.rows == 2
    by_day = {day: lake.dataset("marts/requests_per_bucket").to_table(
        filter=pa.compute.field("dt") == day).to_pylist() for day in (str(D), str(d2))}
    assert [(r["bucket"], r["requests"]) for r in by_day[str(D)]] == [("fixture-bucket", 3)]
    assert [(r["bucket"], r["requests"]) for r in by_day[str(d2)]] == [("other-bucket", 5)]


def test_a_model_returning_days_it_was_not_asked_for_is_refused(tmp_path):
    lake = make_lake(tmp_path, {D: req(D, 3), date(2026, 11, 11): req(date(2026, 11, 11), 2)})
    text = GOOD.replace("WHERE dt BETWEEN $start_date AND $end_date",
                        "WHERE dt >= $start_date OR $end_date IS NULL")
    catalog = catalog_of(tmp_path, text)
    with pytest.raises(models.ModelError, match="2026-11-11, outside 2026-11-10..2026-11-10"):
        models.run_model(lake, "requests_per_bucket", D, D, catalog=catalog)
    # and a parameter no selected model takes is refused, not silently dropped
    with pytest.raises(CatalogError, match="takes the parameter 'top_m'"):
        models.run_models(lake, D, D, ["usage_daily"], top_m=3)
    nulls = catalog_of(tmp_path, GOOD.replace("SELECT dt, bucket",
                                              "SELECT CASE WHEN bucket = 'x' THEN dt END AS dt, "
                                              "bucket"))
    with pytest.raises(models.ModelError, match="returned 1 rows without a dt"):
        models.run_model(lake, "requests_per_bucket", D, D, catalog=nulls)


def test_results_that_break_their_grain_never_replace_good_ones(tmp_path):
    lake = make_lake(tmp_path, {D: req(D, 3) + req(D, 2, operation="REST.HEAD.OBJECT")})
    good = catalog_of(tmp_path, GOOD)
    first = models.run_model(lake, "requests_per_bucket", D, D, catalog=good)
    assert first.audit.passed and first.files
    before = {f: Path(f).read_bytes() for f in lake.files("marts")}
    coarse = GOOD.replace("SELECT dt, bucket,", "SELECT dt, bucket, operation,").replace(
        "bucket = 'Source bucket.',", "bucket = 'Source bucket.', operation = 'Operation.',")
    second = models.run_model(lake, "requests_per_bucket", D, D,
                              catalog=catalog_of(tmp_path / "v2", coarse))
    assert not second.audit.passed and second.files == []
    assert second.audit.metadata["offending"] == 2
    assert {f: Path(f).read_bytes() for f in lake.files("marts")} == before


def test_a_model_reading_another_sees_its_fresh_results(tmp_path):
    lake = make_lake(tmp_path, {D: req(D, 3)})
    reader = GOOD.replace("requests_per_bucket", "total_requests").replace(
        "count(*) AS requests\nFROM lake_access_logs", "sum(requests) AS requests\n"
        "FROM requests_per_bucket").replace("HAVING count(*) >= $min_requests",
                                            "HAVING sum(requests) >= $min_requests")
    catalog_of(tmp_path, GOOD)
    catalog = catalog_of(tmp_path, reader, "total_requests")
    assert catalog.reads(catalog["total_requests"], Kind.MODEL) == ["requests_per_bucket"]
    runs = models.run_models(lake, D, D, catalog=catalog)
    assert list(runs) == ["requests_per_bucket", "total_requests"]  # readers after
    assert runs["total_requests"].rows == 1
    (row,) = lake.dataset("marts/total_requests").to_table().to_pylist()
    assert row["requests"] == 3


def test_a_teams_folder_adds_models_and_replaces_them_by_name(tmp_path):
    """A team's folder adds to the packaged models: a file defining a packaged model's
    name replaces it, a file at a packaged file's path (a seed's CSV) is read instead, and
    everything else stays the package's."""
    packaged = load()
    (tmp_path / "mine").mkdir()
    (tmp_path / "billing").mkdir()
    mine = (ROOT / "sql" / "usage" / "usage_daily.sql").read_text()
    (tmp_path / "mine" / "usage_daily.sql").write_text(mine.replace(
        packaged["usage_daily"].description.replace("'", "''"), "Ours."))
    prices = (ROOT / "sql" / "billing" / "prices.csv").read_bytes() + b"\n"
    (tmp_path / "billing" / "prices.csv").write_bytes(prices)
    catalog = load(extra=tmp_path)
    assert set(catalog.models) == set(packaged.models)
    assert catalog["usage_daily"].path == "mine/usage_daily.sql"
    assert catalog["usage_daily"].description == "Ours."
    assert catalog.read_bytes(catalog["prices"].seed_file) == prices
    assert catalog.read_bytes(catalog["detection_settings"].seed_file) == \
        packaged.read_bytes(packaged["detection_settings"].seed_file)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogError, match="holds no SQL files"):
        load(extra=tmp_path / "empty")
