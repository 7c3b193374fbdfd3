"""Audits declared in a model's header (`audits (...)`, beside its grain): read and checked
when the catalog loads, run on the rows the lake holds for a run's days with SQL built by
sqlglot (quoted names, bound values), and each one an asset check of the model's asset."""

from __future__ import annotations

import warnings
from datetime import date, timedelta

import dagster as dg
import pytest

from assets import checks as dagster_checks
from assets.models import CATALOG, assets_for, model_assets
from assets.partitions import DAILY, range_tags
from assets.resources import LakeResource, S3Settings, SecurityResource
from pipelines.sql import audits, checks, models
from pipelines.sql.catalog import Audit, AuditKind, CatalogError, Kind
from tests.helpers import GOOD, D, billing_lake, catalog_of, make_lake, planted_days
from tests.helpers import fixture_bucket_requests as req

AUDITED = GOOD.replace("grain (dt, bucket),", """grain (dt, bucket),
  audits (
    not_null (dt, requests),
    accepted_values (bucket, ('fixture-bucket', 'it''s')),
    row_count_min (2)
  ),""").replace("count(*) AS requests", "nullif(count(*), 2) AS requests")
D2, NO_RECORDS, LATER = D + timedelta(days=1), D + timedelta(days=2), D + timedelta(days=3)


def test_audits_are_read_from_the_header(tmp_path):
    model = catalog_of(tmp_path, AUDITED)["requests_per_bucket"]
    assert model.audits == (
        Audit("requests_per_bucket", AuditKind.NOT_NULL, columns=("dt", "requests")),
        Audit("requests_per_bucket", AuditKind.ACCEPTED_VALUES, columns=("bucket",),
              values=("fixture-bucket", "it's")),
        Audit("requests_per_bucket", AuditKind.ROW_COUNT_MIN, minimum=2))
    assert [a.name for a in model.audits] == [
        "requests_per_bucket_not_null", "requests_per_bucket_accepted_values_bucket",
        "requests_per_bucket_row_count_min"]
    assert [(s.name, s.blocking) for s in map(audits.spec, model.audits)] == [
        ("requests_per_bucket_not_null", True),
        ("requests_per_bucket_accepted_values_bucket", True),
        ("requests_per_bucket_row_count_min", False)]  # a warning never blocks


def _audits(text: str) -> str:
    return GOOD.replace("grain (dt, bucket),", f"grain (dt, bucket), audits ({text}),")


BROKEN = {  # what is wrong -> (the file's text, what the error must say)
    "an unknown audit": (_audits("unique (bucket)"),
                         "line 4: audit unique is not one of not_null, accepted_values, "
                         "row_count_min: write not_null (column, ...)"),
    "a column the model does not declare": (
        _audits("not_null (bukket)"),
        "audit not_null names bukket, which column_descriptions does not declare"),
    "an accepted_values column it does not declare": (
        _audits("accepted_values (region, ('eu'))"),
        "audit accepted_values names region, which column_descriptions does not declare"),
    "not_null on a nullable column": (
        _audits("not_null (bucket)").replace("grain (dt, bucket),",
                                            "grain (dt, bucket), nullable (bucket),"),
        "audit not_null names bucket, which nullable allows to be null"),
    "not_null without columns": (_audits("not_null ()"), "not_null takes the columns"),
    "accepted_values without values": (_audits("accepted_values (bucket)"),
                                       "accepted_values takes a column and its values"),
    "accepted_values with a bare word": (_audits("accepted_values (bucket, (a, b))"),
                                         "accepted_values takes a column and its values"),
    "row_count_min of zero": (_audits("row_count_min (0)"),
                              "row_count_min takes the rows every day must have at least"),
    "row_count_min of text": (_audits("row_count_min ('1')"),
                              "row_count_min takes the rows every day must have at least"),
    "an audit without parentheses": (_audits("row_count_min 1"), "audits is a list of"),
    "audits that are not a list": (
        GOOD.replace("grain (dt, bucket),", "grain (dt, bucket), audits 'not_null',"),
        "audits is a list of not_null (column, ...)"),
    "the same audit twice": (_audits("not_null (dt), not_null (bucket)"),
                             "audits declares requests_per_bucket_not_null twice: list "
                             "every column in one not_null (...)"),
    "audits on a query": (
        _audits("row_count_min (1)").replace("INCREMENTAL_BY_TIME_RANGE (time_column dt)",
                                             "QUERY").replace("grain (dt, bucket), ", ""),
        "a QUERY takes no `audits`"),
}


@pytest.mark.parametrize("problem", sorted(BROKEN))
def test_a_broken_audit_is_one_sentence_naming_the_file(tmp_path, problem):
    text, expected = BROKEN[problem]
    with pytest.raises(CatalogError) as e:
        catalog_of(tmp_path, text)
    message = str(e.value)
    assert message.startswith("custom/requests_per_bucket.sql: line "), message
    assert expected in message, message
    assert "\n" not in message


def test_audit_sql_quotes_names_and_binds_values(tmp_path):
    model = catalog_of(tmp_path, AUDITED)["requests_per_bucket"]
    days = [str(D), str(D2)]
    accepted = audits.failing(model, model.audits[1], days)
    assert accepted.sql() == (
        'SELECT "dt", "bucket" FROM "requests_per_bucket" WHERE "dt" BETWEEN $start_date '
        'AND $end_date AND NOT "bucket" IN ($value_0, $value_1) ORDER BY "dt", "bucket"')
    assert accepted.params == {"start_date": str(D), "end_date": str(D2),
                               "value_0": "fixture-bucket", "value_1": "it's"}
    not_null = audits.failing(model, model.audits[0], days)
    assert '"requests" IS NULL' in not_null.sql() and "'" not in not_null.sql()
    short = audits.failing(model, model.audits[2], days)
    assert "UNNEST(CAST($days AS" in short.sql() and short.params == {"days": days,
                                                                      "minimum": 2}


@pytest.fixture
def audited_lake(tmp_path):
    """Within the audited days D..NO_RECORDS: on D a null (the group of two requests) and a
    bucket outside the accepted values, on D2 a day of one row, on NO_RECORDS no record;
    LATER, outside them, breaks every audit and must not count."""
    lake = make_lake(tmp_path, {
        D: req(D, 3) + req(D, 2, bucket="other-bucket"),
        D2: req(D2, 1),
        LATER: req(LATER, 2, bucket="later-bucket")})
    catalog = catalog_of(tmp_path, AUDITED)
    models.run_model(lake, "requests_per_bucket", D, LATER, catalog=catalog)
    return lake, catalog


def test_audits_run_on_the_rows_of_the_runs_days(audited_lake):
    lake, catalog = audited_lake
    model = catalog["requests_per_bucket"]
    not_null, accepted, short = audits.run(lake, catalog, model, D, NO_RECORDS)
    assert (not_null.name, not_null.passed, not_null.severity) == (
        "requests_per_bucket_not_null", False, checks.ERROR)
    assert not_null.metadata == {"failing_rows": 1, "rows": 3, "days": 3}
    assert not_null.offending.to_pylist() == [
        {"dt": str(D), "bucket": "other-bucket", "requests": None}]
    assert (accepted.passed, accepted.severity, accepted.metadata["failing_rows"]) == (
        False, checks.ERROR, 1)
    assert accepted.offending.to_pylist() == [{"dt": str(D), "bucket": "other-bucket"}]
    # the days with records: D has two rows, D2 one; NO_RECORDS is ingestion's matter
    assert (short.passed, short.severity) == (False, checks.WARN)
    assert short.metadata == {"failing_days": 1, "rows": 3, "days": 2}
    assert short.offending.to_pylist() == [{"dt": str(D2), "rows": 1}]
    assert short.summary == ("requests_per_bucket: 1 of 2 days fail: Every day of the run "
                             "with records has at least 2 rows")
    (on_d2, *_) = audits.run(lake, catalog, model, D2, D2)
    assert on_d2.passed and on_d2.offending is None and on_d2.metadata["rows"] == 1


def test_an_audit_is_an_asset_check_with_its_failing_rows(audited_lake):
    """One check per audit on the model's asset; a failing one carries how many rows
    fail and a few of them, at the audit's severity, and an error blocks the run."""
    lake, catalog = audited_lake
    (asset,) = assets_for(catalog)
    assert {k.name for k in asset.check_keys} == {
        "grain", *(a.name for a in catalog["requests_per_bucket"].audits)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = dg.materialize(
            [dg.AssetSpec("access_logs", partitions_def=DAILY), asset],
            selection=[asset.key], raise_on_error=False,
            resources={"lake": LakeResource(url=lake.loc.path, s3=S3Settings()),
                       "security": SecurityResource()},
            tags=range_tags(str(D), str(NO_RECORDS)), instance=dg.DagsterInstance.ephemeral())
    assert not result.success  # the blocking errors stopped the run
    found = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert found["grain"].passed
    failed = found["requests_per_bucket_not_null"]
    assert not failed.passed and failed.severity == dg.AssetCheckSeverity.ERROR
    assert failed.metadata["failing_rows"].value == 1
    assert "| other-bucket |" in failed.metadata["offending_rows"].value
    warned = found["requests_per_bucket_row_count_min"]
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert warned.metadata["failing_days"].value == 1


def test_every_audited_model_has_one_check_per_audit():
    for asset in model_assets:
        model = CATALOG[asset.key.path[-1]]
        names = {k.name for k in asset.check_keys}
        assert names == {"grain", *(a.name for a in model.audits)}, model.name
    converted = dagster_checks.result(checks.CheckResult(
        "x_row_count_min", False, checks.WARN, "x: 1 of 1 days fail", {"failing_days": 1}))
    assert converted.severity == dg.AssetCheckSeverity.WARN


def test_the_shipped_audits_hold_on_the_test_lakes(tmp_path):
    """Every audit the packaged headers declare passes on the hand-made lakes of the model
    tests (a baseline and a day of every planted detection; billing's cases, one of them
    years earlier): an audit that fails here is wrong, or the model is."""
    days = planted_days()
    security = make_lake(tmp_path / "security", days)
    billing = billing_lake(tmp_path / "billing")
    spans = [(security, min(days), max(days))] + [
        (billing, day, day) for day in map(date.fromisoformat, sorted(
            models.recorded_days(billing, "access_logs")))]
    audited = [m for m in CATALOG.of(Kind.MODEL) if m.audits]
    assert audited
    for lake, first, last in spans:
        models.run_models(lake, first, last)
        for model in audited:
            for result in audits.run(lake, CATALOG, model, first, last):
                assert result.passed, f"{first}..{last}: {result.summary}"


def test_row_count_min_fails_on_a_day_with_records_but_no_rows(tmp_path):
    """A model that drops a day it had records for: row_count_min names the day."""
    lake = make_lake(tmp_path, {D: req(D, 3), D2: req(D2, 1)})
    catalog = catalog_of(tmp_path, AUDITED.replace("not_null (dt, requests),", "")
                         .replace("nullif(count(*), 2)", "count(*)")
                         .replace("HAVING count(*) >= $min_requests",
                                  "HAVING count(*) >= $min_requests AND dt <> '" + str(D2) + "'"))
    models.run_model(lake, "requests_per_bucket", D, D2, catalog=catalog)
    (_, short) = audits.run(lake, catalog, catalog["requests_per_bucket"], D, D2)
    assert short.offending.to_pylist() == [{"dt": str(D), "rows": 1}, {"dt": str(D2), "rows": 0}]


def test_the_audits_of_a_model_never_written_pass_on_no_rows(tmp_path):
    lake = make_lake(tmp_path, {D: req(D, 1)})
    catalog = catalog_of(tmp_path, AUDITED)
    for result in audits.run(lake, catalog, catalog["requests_per_bucket"], D2, D2):
        assert result.passed and result.metadata["rows"] == 0, result.summary
