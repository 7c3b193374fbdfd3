"""SQL models on a small hand-made lake: every expected number is worked out here by hand,
not by running the same SQL."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from pipelines.lake.store import Lake
from pipelines.sql import models
from pipelines.sql import warehouse as wh
from pipelines.sql.catalog import load
from pipelines.sql.session import session
from tests.helpers import (
    ALICE,
    ATTACK,
    BOB,
    BUCKET,
    GIB,
    HISTORY,
    NORMAL,
    PLANTED,
    S3LOGS,
    D,
    billing_lake,
    log_time,
    make_lake,
    normal,
    planted_days,
)
from tests.helpers import fixture_bucket_requests as req
from tests.loglines import line


def rows(lake: Lake, model: str, start: date, end: date | None = None) -> list[dict]:
    """The model's rows for the days, computed now (with the models it reads, and their
    earlier days its window needs)."""
    models.run_models(lake, start, end or start, [model])
    con = session(lake)
    return models.query(con, model, start, end or start).to_pylist()


# -- usage ---------------------------------------------------------------------------------

def test_usage_daily_by_hand(tmp_path):
    lake = make_lake(tmp_path, {D: [
        *req(D, bytes_sent="100", object_size="1000", total_time_ms="10",
             turnaround_time_ms="1", remote_ip="1.1.1.1", key="a"),
        *req(D, bytes_sent="200", object_size="1000", total_time_ms="20",
             turnaround_time_ms="2", remote_ip="1.1.1.1", key="b"),
        *req(D, bytes_sent="300", object_size="1000", total_time_ms="30",
             turnaround_time_ms="3", remote_ip="2.2.2.2", key="c"),
        *req(D, requester=BOB, http_status="404", error_code="NoSuchKey", bytes_sent="-",
             object_size="1000", total_time_ms="40", turnaround_time_ms="4",
             remote_ip="3.3.3.3", key="d"),
        *req(D, operation="REST.PUT.OBJECT", http_status="500", error_code="InternalError",
             bytes_sent="-", object_size="1000", total_time_ms="50", turnaround_time_ms="5",
             remote_ip="1.1.1.1", request_uri='"PUT /fixture-bucket/e HTTP/1.1"', key="e"),
    ]})
    got = {r["operation"]: r for r in rows(lake, "usage_daily", D)}
    get = got["REST.GET.OBJECT"]
    assert (get["requests"], get["errors_4xx"], get["errors_5xx"]) == (4, 1, 0)
    assert (get["bytes_sent"], get["object_bytes"]) == (600, 4000)
    assert (get["distinct_requesters"], get["distinct_remote_ips"]) == (2, 3)
    # quantile_cont over 10, 20, 30, 40: position (n-1)q = 1.5, 2.85, 2.97
    assert get["total_time_p50_ms"] == pytest.approx(25.0)
    assert get["total_time_p95_ms"] == pytest.approx(38.5)
    assert get["total_time_p99_ms"] == pytest.approx(39.7)
    assert get["turnaround_p50_ms"] == pytest.approx(2.5)
    assert get["turnaround_p95_ms"] == pytest.approx(3.85)
    put = got["REST.PUT.OBJECT"]
    assert (put["requests"], put["errors_4xx"], put["errors_5xx"], put["bytes_sent"]) == \
        (1, 0, 1, 0)
    assert put["total_time_p99_ms"] == pytest.approx(50.0)
    codes = {(r["http_status"], r["error_code"]): r["requests"]
             for r in rows(lake, "usage_status_codes", D)}
    assert codes == {(200, None): 3, (404, "NoSuchKey"): 1, (500, "InternalError"): 1}
    top = [r for r in rows(lake, "usage_top_n", D) if r["dimension"] == "remote_ip"]
    assert [(r["value"], r["requests"], r["rank"]) for r in top] == \
        [("1.1.1.1", 3, 1), ("2.2.2.2", 1, 2), ("3.3.3.3", 1, 3)]


# -- billing -------------------------------------------------------------------------------

def test_billing_daily_exact_dollars(tmp_path):
    lake = billing_lake(tmp_path)
    got = {}
    for r in rows(lake, "billing_daily", D):  # one bill per requester, summed over prefixes
        mine = got.setdefault(r["requester"], dict.fromkeys(r, 0))
        for k, v in r.items():
            mine[k] = mine[k] + v if isinstance(v, (int, float)) else v
    alice = got[ALICE]
    assert (alice["tier1_requests"], alice["tier2_requests"], alice["free_requests"]) == \
        (2001, 1000, 10)
    assert (alice["system_records"], alice["unbilled_requests"]) == (5, 5)
    # 2,001 tier-1 at $0.005 per 1,000 + 1,000 tier-2 at $0.0004 per 1,000
    assert alice["request_cost_usd"] == pytest.approx(0.010005 + 0.0004)
    assert alice["bytes_sent"] == 150 * GIB + 5 * 300
    assert alice["internet_bytes"] == 150 * GIB  # the 503s are not billed, bytes neither
    # 150 GB out this month: the first 100 GB are free, 50 GB at $0.09
    assert alice["transfer_out_cost_usd"] == pytest.approx(4.50)
    anon = got["anonymous"]
    assert (anon["unbilled_requests"], anon["tier2_requests"], anon["request_cost_usd"]) == \
        (4, 0, 0)
    assert got["AmazonS3"]["system_records"] == 3
    assert got["AmazonS3"]["request_cost_usd"] == 0
    # The next day alone: the month already used 150 GB, so all 20 GB cost $0.09.
    (next_day,) = rows(lake, "billing_daily", D + timedelta(days=1))
    assert next_day["transfer_out_cost_usd"] == pytest.approx(20 * 0.09)
    assert next_day["request_cost_usd"] == pytest.approx(20 * 0.0004 / 1000)
    # Before 2024-05-13 an anonymous AccessDenied was still billed (Tier 2).
    (old,) = rows(lake, "billing_daily", date(2024, 5, 12))
    assert (old["tier2_requests"], old["unbilled_requests"]) == (1, 0)


def test_request_tiers_of_every_operation_family():
    con = duckdb.connect()
    con.execute(load()["request_tier"].body)
    cases = {"REST.GET.OBJECT": "tier2", "REST.HEAD.OBJECT": "tier2", "REST.PUT.OBJECT": "tier1",
             "REST.PUT.PART": "tier1", "REST.POST.UPLOADS": "tier1", "REST.COPY.OBJECT": "tier1",
             "REST.COPY.PART": "tier1", "REST.GET.BUCKET": "tier1",
             "REST.GET.BUCKETVERSIONS": "tier1", "REST.GET.UPLOADS": "tier1",
             "REST.DELETE.OBJECT": "free", "REST.DELETE.UPLOAD": "free",
             "REST.COPY.OBJECT_GET": "system", "BATCH.DELETE.OBJECT": "system",
             "S3.EXPIRE.OBJECT": "system", "S3.TRANSITION_SIA.OBJECT": "system",
             "WEBSITE.GET.OBJECT": "tier2", "REST.OPTIONS.PREFLIGHT": "tier2",
             "REST.GET.ACL": "tier2", "REST.POST.RESTORE": "tier1"}
    got = {op: con.execute("SELECT request_tier($op)", {"op": op}).fetchone()[0]
           for op in cases}
    assert got == cases


# -- the analyst view ----------------------------------------------------------------------

# A key is bytes and a client may escape any (%FF): the rest of the key is decoded, each
# sequence that is not UTF-8 becomes U+FFFD, as Java's decoder (Spark, Trino) replaces it.
KEYS_DECODED = {
    "a%FFb/c%20d": "a\ufffdb/c d",
    "caf%C3%A9": "caf\u00e9",          # valid UTF-8: decoded as before
    "%": "%",                           # a lone % starts no escape: kept
    "50%+%ZZ": "50%+%ZZ",               # a + stays a +, a % before no hex pair stays
    "%E2%82/%C3": "\ufffd/\ufffd",    # a character cut short: one U+FFFD each
    "%ED%A0%80x": "\ufffdx",           # an encoded surrogate: one U+FFFD (Java's count)
    "%C0%AF": "\ufffd\ufffd",         # an overlong /: two lone bytes
}


def test_key_decoded_never_fails_on_escapes_that_are_not_utf8(tmp_path):
    """DuckDB's url_decode fails the whole query on `a%FFb`; key_decoded replaces what is
    not UTF-8 by U+FFFD and decodes the rest, so SELECT * FROM access_logs answers."""
    lake = make_lake(tmp_path, {D: [line(bucket=BUCKET, time=log_time(D), key=key,
                                         request_id=f"KEY{i}")
                                    for i, key in enumerate(KEYS_DECODED)]})
    con = session(lake)
    got = {r["key"]: r["key_decoded"] for r in con.sql("SELECT * FROM access_logs")
           .to_arrow_table().to_pylist()}
    assert got == KEYS_DECODED
    assert con.execute("SELECT url_decode_lossy(NULL), url_decode_lossy('a%20b')").fetchone() \
        == (None, "a b")


# -- security ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def security_lake(tmp_path_factory):
    return make_lake(tmp_path_factory.mktemp("security"), planted_days())


def test_a_normal_day_has_no_findings(security_lake):
    assert rows(security_lake, "security_findings", NORMAL) == []


@pytest.mark.parametrize("detection", sorted(PLANTED))
def test_each_detection_fires_on_its_planted_case(security_lake, detection):
    fields, n, principal = PLANTED[detection]
    found = [r for r in rows(security_lake, "security_findings", ATTACK)
             if r["detection"] == detection]
    assert found, detection
    ours = [r for r in found if r["principal"] == principal or principal is None]
    assert ours and ours[0]["request_count"] >= n
    f = ours[0]
    assert f["severity"] in {"info", "low", "medium", "high"} and f["dt"] == ATTACK.isoformat()
    assert 1 <= len(f["sample_request_ids"]) <= 3 and f["first_seen"] <= f["last_seen"]
    if detection == "new_network":
        assert f["addresses"] == [{"address": "198.51.100.0/24", "requests": 1}]
        assert f["request_count"] == 1


def test_lifecycle_expirations_are_not_mass_deletes(security_lake):
    found = rows(security_lake, "security_findings", ATTACK)
    assert not [r for r in found if r["detection"] == "mass_delete"
                and r["principal"] == "AmazonS3"]
    (deletes,) = [r for r in found if r["detection"] == "mass_delete"]
    assert deletes["principal"] == ALICE and deletes["request_count"] == 120


def test_a_principals_routine_is_not_a_burst_whatever_its_size(tmp_path):
    """Deletes, listings, missing keys and denials that grow with a principal's own traffic
    are judged against the most it did on a day of its lookback (times a factor), not a
    fixed count: an application that deletes 150 objects a day is not a mass delete on a
    day of 160, but is on a day of 600; with too little history, the floor alone."""
    def routine(day: date, deletes: int, lists: int, missing: int) -> list[bytes]:
        return [*normal(day),
                *req(day, deletes, remote_ip="10.1.1.1", operation="REST.DELETE.OBJECT",
                     http_status="204", bytes_sent="-"),
                *req(day, lists, remote_ip="10.1.1.1", operation="REST.GET.BUCKET"),
                *req(day, missing, remote_ip="10.1.1.1", http_status="404",
                     error_code="NoSuchKey", bytes_sent="-")]
    usual = {d: routine(d, 150, 250, 60) for d in HISTORY}
    busy, attack = NORMAL, ATTACK
    lake = make_lake(tmp_path, usual | {busy: routine(busy, 160, 260, 70),
                                        attack: routine(attack, 600, 900, 300)})
    found = {(r["dt"], r["detection"]) for r in rows(lake, "security_detections", busy, attack)
             if r["principal"] == ALICE}
    assert found == {(attack.isoformat(), "mass_delete"), (attack.isoformat(), "enumeration")}
    (early,) = [r for r in rows(lake, "security_detections", HISTORY[2])
                if r["detection"] == "mass_delete"]  # two days of history: the floor
    assert early["rule"] == "150 objects deleted"


def test_thresholds_come_from_the_settings_table(security_lake):
    con = session(security_lake)
    con.execute("UPDATE detection_settings SET value = '200' "
                "WHERE detection = 'mass_delete' AND parameter = 'min_deletes'")
    found = models.query(con, "security_detections", ATTACK, ATTACK).to_pylist()
    assert not [r for r in found if r["detection"] == "mass_delete"]


def test_detections_read_the_days_before_theirs_from_summaries(tmp_path):
    """Baselines come from the summaries of the lookback days, never their records: once
    the summaries exist, a destroyed records file of an earlier day changes no finding."""
    day = D + timedelta(days=60)
    history = [day - timedelta(days=i) for i in range(10, 0, -1)]
    lake = make_lake(tmp_path, {d: normal(d) for d in history} | {day: normal(day) + req(
        day, 1, remote_ip="198.51.100.9")})
    models.run_models(lake, history[0], history[-1], ["security_detections"])
    expected = rows(lake, "security_detections", day)
    assert [r["detection"] for r in expected] == ["new_network"]  # the baseline was there
    for f in lake.files(f"access_logs/dt={history[-3]}"):
        Path(f).write_bytes(b"not parquet")
    assert rows(lake, "security_detections", day) == expected
    with pytest.raises(duckdb.Error, match="parquet"):  # the damage is real for its own day
        rows(lake, "security_detections", history[-3])


def test_missing_summaries_are_computed_first_whatever_the_order_days_run(tmp_path):
    """A backfill may run a late day before earlier ones: the runner computes the earlier
    days' summaries the window needs, so the findings are those of a run in order."""
    day = D + timedelta(days=60)
    history = [day - timedelta(days=i) for i in range(10, 0, -1)]
    days = {d: normal(d) for d in history} | {day: normal(day) + req(
        day, 1, remote_ip="198.51.100.9")}
    in_order = make_lake(tmp_path / "a", days)
    models.run_models(in_order, history[0], day, ["security_findings", "billing_daily"])
    late_first = make_lake(tmp_path / "b", days)
    run = models.run_model(late_first, "security_detections", day, day)
    assert {(r.model, r.days[0], r.days[-1]) for r in run.filled} == {
        (m, history[0].isoformat(), history[-1].isoformat())
        for m in ("security_activity", "usage_hourly")}
    assert models.run_model(late_first, "security_detections", day, day).filled == ()
    bill = models.run_model(late_first, "billing_daily", day, day)
    assert {r.model for r in bill.filled} == {"transfer_out_daily"}
    for model in ("security_detections", "billing_daily"):
        assert rows(late_first, model, day) == rows(in_order, model, day)


def test_a_range_run_and_day_by_day_runs_agree(security_lake, tmp_path):
    """The run's own days are counted from their records, earlier days from summaries:
    the two must count alike, so one run over many days equals one run per day."""
    daily = Lake(str(tmp_path / "lake"))
    shutil.copytree(security_lake.path("access_logs"), daily.path("access_logs"))
    first, last = HISTORY[0], ATTACK
    models.run_models(security_lake, first, last, ["security_findings", "billing_daily"])
    for i in range((last - first).days + 1):
        models.run_models(daily, first + timedelta(days=i), first + timedelta(days=i),
                          ["security_findings", "billing_daily"])
    for model in ("security_activity", "usage_hourly", "security_detections",
                  "transfer_out_daily", "billing_daily"):
        ours = sorted(p.split("/marts/")[1] for p in daily.files(f"marts/{model}"))
        assert ours and ours == sorted(p.split("/marts/")[1]
                                       for p in security_lake.files(f"marts/{model}"))
        for name in ours:
            assert Path(daily.path("marts", name)).read_bytes() == Path(
                security_lake.path("marts", name)).read_bytes(), name


# -- running, warehouse, query -------------------------------------------------------------

def test_models_write_exactly_the_days_they_compute(tmp_path):
    lake = billing_lake(tmp_path)
    models.run_models(lake, D, D + timedelta(days=1), ["usage_daily", "billing_daily"])
    files = lake.files("marts")
    assert {f.split("marts/")[1] for f in files} == {  # with the summary billing reads
        f"{m}/dt={d}/part-00000.parquet"
        for m in ("usage_daily", "billing_daily", "transfer_out_daily")
        for d in (D, D + timedelta(days=1))}
    before = {f: Path(f).read_bytes() for f in files}
    models.run_models(lake, D, D + timedelta(days=1), ["usage_daily", "billing_daily"])
    assert {f: Path(f).read_bytes() for f in lake.files("marts")} == before  # idempotent
    models.run_models(lake, D + timedelta(days=5), D + timedelta(days=5), ["usage_daily"])
    assert set(lake.files("marts")) == set(files)  # a day with no rows writes nothing


def test_warehouse_views_are_documented_and_query_works(tmp_path):
    lake = billing_lake(tmp_path)
    models.run_models(lake, D, D + timedelta(days=1))
    counts = wh.build(lake, str(tmp_path / "w.duckdb"))
    assert {"access_logs", "quarantine", "usage_daily", "billing_daily",
            "security_findings"} <= set(counts)
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    missing = con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                          "WHERE NOT internal AND coalesce(comment, '') = ''").fetchall()
    assert missing == []
    assert con.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal "
                       "AND coalesce(comment, '') = ''").fetchone()[0] == 0
    r = con.execute("SELECT requester_type, requester_account, role_name, request_tier, "
                    "http_method FROM access_logs WHERE operation = 'REST.PUT.OBJECT' "
                    "LIMIT 1").fetchone()
    assert r == ("iam_user", "111122223333", None, "tier1", "PUT")
    (cost,) = con.execute("SELECT total_usd FROM cost_by_bucket($a, $b)",
                          {"a": str(D), "b": str(D + timedelta(days=1))}).fetchone()
    assert cost == pytest.approx(0.010405 + 4.50 + 1.80 + 20 * 0.0004 / 1000)
    mtd = con.execute("SELECT dt, mtd_total_usd FROM billing_month_to_date ORDER BY dt").fetchall()
    assert [d for d, _ in mtd] == [str(D), str(D + timedelta(days=1))]
    assert mtd[-1][1] == pytest.approx(cost)
    by_role = dict(con.execute("SELECT attributed_to, total_usd FROM cost_by('role', $a, $b)",
                               {"a": str(D), "b": str(D)}).fetchall())
    assert by_role[None] == pytest.approx(0.010405 + 4.50)
    env = {"S3LOGS_WAREHOUSE": str(tmp_path / "w.duckdb"), "S3LOGS_LAKE": str(tmp_path / "lake"),
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([S3LOGS, "query", "SELECT bucket, sum(tier1_requests) AS t1 "
                          "FROM billing_daily GROUP BY ALL"], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "fixture-bucket" in out.stdout and "2,001" in out.stdout
    csv = subprocess.run([S3LOGS, "query", "SELECT 1 AS x", "--format", "csv"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert csv.stdout.splitlines() == ['"x"', "1"]


def test_a_session_spills_past_its_memory_limit_and_leaves_no_spill_folder(tmp_path):
    """A sort bigger than the session's memory limit completes by spilling to the
    session's own folder, which is gone once the connection closes; a limit that is not a
    size is one sentence."""
    con = session(None, memory_limit="64MB")
    limit, = con.execute("SELECT current_setting('memory_limit')").fetchone()
    spill, = con.execute("SELECT current_setting('temp_directory')").fetchone()
    assert limit == "61.0 MiB"  # 64 MB in DuckDB's binary units
    biggest, = con.execute("SELECT max(m) FROM (SELECT md5(r::VARCHAR) || repeat('x', 60) AS m "
                       "FROM range(2000000) t(r) ORDER BY m)").fetchone()
    assert biggest.startswith("fffff")
    assert Path(spill).is_dir()  # DuckDB makes the folder only when it spills
    con.close()
    assert not Path(spill).exists()
    assert session(None).execute("SELECT current_setting('memory_limit')").fetchone() == (
        "488.2 MiB",)  # the default, 512MB
    with pytest.raises(ValueError, match="not a size: write it like 1GB"):
        session(None, memory_limit="lots")
