"""What log content must not do where it is shown: drive a terminal (`ESC[2J` clears it,
`ESC]0;…BEL` retitles it), break a table or a chat line, reorder text (U+202E), run as a
spreadsheet formula from any column type; and an alert whose post got no answer must be
posted again, with the same idempotency key, rather than given up."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pyarrow.csv as pacsv
import pytest

from pipelines.export import spreadsheet_safe
from pipelines.ingestion.ingest import ingest
from pipelines.ingestion.sources import LogSource
from pipelines.lake.store import Lake
from pipelines.security import alerts
from pipelines.sql import warehouse
from pipelines.textsafe import visible
from tests.helpers import S3LOGS, findings, make_lake
from tests.helpers import payments_requests as req
from tests.loglines import line

ROOT = Path(__file__).resolve().parents[1]
DAY = date(2026, 11, 20)
POLICY_ENV = {"S3LOGS_POLICIES": str(ROOT / "examples" / "policies.yaml"),
              "S3LOGS_THREAT_LIST": str(ROOT / "examples" / "threat_list.csv")}
# what a client can put in a log line: clear the screen, retitle the terminal, colour the
# rest red, end a line, reorder what follows
EVIL_REQUESTER = "u/x\x1b[2J\x1b]0;pwned\x07"
EVIL_KEY = "evil%0A%1B%5B31mred"  # decoded: "evil\n\x1b[31mred"
EVIL_AGENT = '"curl\x1b[31m\u202eexe.txt\x7f\x9b"'
RAW = set(map(chr, [*range(0x20), 0x7F, *range(0x80, 0xA0), *range(0x202A, 0x202F),
                    *range(0x2066, 0x206A)]))


def raw_controls(text: str) -> set[str]:
    """The control and bidi characters in `text`, line ends aside."""
    return RAW.intersection(text.replace("\n", ""))


def evil_lake(tmp_path: Path) -> Lake:
    """A day of logs with hostile requester, key and user agent, and a line that does not
    parse (quarantined: its raw bytes a BLOB) starting with a formula."""
    logs = tmp_path / "logs"
    logs.mkdir()
    body = [line(bucket="payments-prod", requester=EVIL_REQUESTER, key=EVIL_KEY,
                 user_agent=EVIL_AGENT, request_id=f"EVIL{i}",
                 time=f"[{DAY:%d/%b/%Y}:12:00:00 +0000]") for i in range(2)]
    body.append(b"=cmd|' /C calc'!A0 not a log line")
    (logs / f"{DAY}-12-00-00-00000000000000A1").write_bytes(b"\n".join(body) + b"\n")
    lake = Lake(str(tmp_path / "lake"))
    ingest([LogSource(str(logs))], lake, [DAY], progress=False)
    return lake


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([S3LOGS, *args], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", **POLICY_ENV, **(env or {})})


def in_a_terminal(*args: str) -> str:
    """What the command writes to a terminal (a pseudo-terminal as its stdout)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([S3LOGS, *args], stdout=follower, stderr=subprocess.PIPE,
                            env={"PATH": "/usr/bin:/bin", **POLICY_ENV})
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    return out.decode().replace("\r\n", "\n")  # the terminal's own line ends


# -- the one escaping function ---------------------------------------------------------------

def test_visible_shows_every_control_and_bidi_character_as_an_escape():
    text = "a\x1b[2J\x1b]0;t\x07\r\n\t\x00\x7f\x85\x9b\u202a\u202e\u2066\u2069 é 日本 \\x1b"
    shown = visible(text)
    assert not raw_controls(shown) and "\n" not in shown
    assert shown == ("a\\x1b[2J\\x1b]0;t\\x07\\r\\n\\t\\x00\\x7f\\x85\\x9b\\u202a\\u202e"
                     "\\u2066\\u2069 é 日本 \\\\x1b")
    assert visible("\x1b") != visible("\\x1b")  # one printed text, one original


# -- terminals: s3logs audit and s3logs query ---------------------------------------------

def test_audit_prints_log_content_with_its_control_characters_escaped(tmp_path):
    evil_lake(tmp_path)
    out = cli("audit", "--lake", str(tmp_path / "lake"), "--bucket", "payments-prod",
              "--from", str(DAY), "--to", str(DAY))
    assert out.returncode == 0, out.stderr
    assert not raw_controls(out.stdout), repr(out.stdout)
    assert "\\x1b[2J\\x1b]0;pwned\\x07" in out.stdout and "\\u202e" in out.stdout
    lines = out.stdout.splitlines()
    assert len(lines) == 2 + 2 + 1 + 2  # header, rule, two rows, count, blank, summary
    assert "2 requests from" in out.stdout


def test_audit_csv_is_escaped_on_a_terminal_and_kept_as_logged_in_a_file(tmp_path):
    evil_lake(tmp_path)
    args = ["audit", "--lake", str(tmp_path / "lake"), "--bucket", "payments-prod",
            "--from", str(DAY), "--to", str(DAY), "--format", "csv"]
    shown = in_a_terminal(*args)
    assert not raw_controls(shown) and "\\x1b]0;pwned\\x07" in shown, repr(shown)
    assert len(shown.splitlines()) == 3
    assert cli(*args, "--out", str(tmp_path / "a.csv")).returncode == 0
    kept = list(csv.DictReader(io.StringIO((tmp_path / "a.csv").read_text())))
    assert {r["requester"] for r in kept} == {EVIL_REQUESTER}  # the evidence, as logged


def test_query_tables_escape_cells_and_headers(tmp_path):
    lake = evil_lake(tmp_path)
    warehouse.build(lake, str(tmp_path / "w.duckdb"))
    env = {"S3LOGS_WAREHOUSE": str(tmp_path / "w.duckdb"), "S3LOGS_LAKE": lake.url}
    out = cli("query", "SELECT key_decoded AS \"k\x1b[31m\", requester, user_agent "
              "FROM access_logs", env=env)
    assert out.returncode == 0, out.stderr
    assert not raw_controls(out.stdout), repr(out.stdout)
    assert "k\\x1b[31m" in out.stdout and "evil\\n\\x1b[31mred" in out.stdout
    assert len(out.stdout.splitlines()) == 2 + 2 + 1  # header, rule, two rows, count


# -- chat: the webhook's text --------------------------------------------------------------

def test_webhook_text_escapes_control_characters_and_slack_markup():
    finding = {"severity": "high", "principal": "<!channel>\x1b[2J\n*forged line*",
               "sources": "10.0.0.1 (3)", "sample_request_ids": ["R1\r", "\u202eR2"],
               "rule": "rule\x07", "request_count": 3, "dt": "2026-11-20",
               "finding_id": "f1"}
    text = alerts.message("payments-prod", "policy_principal", [finding])
    assert not raw_controls(text) and len(text.splitlines()) == 2, text
    assert "&lt;!channel&gt;\\x1b[2J\\n*forged line*" in text and "<!" not in text
    assert "R1\\r, \\u202eR2" in text and "rule\\x07" in text


# -- alerts whose post got no answer ------------------------------------------------------

@pytest.fixture
def finding_lake(tmp_path) -> Lake:
    """A lake with one medium finding on DAY (a principal the policy does not know)."""
    lake = make_lake(tmp_path, {DAY: req(1, requester="arn:aws:iam::999988887777:user/x")})
    assert findings(lake, DAY, DAY)
    return lake


@pytest.mark.parametrize("mode", ["hang", "reset"])
def test_an_unanswered_alert_fails_the_run_and_the_next_run_delivers_it_once(
        finding_lake, receiver, mode):
    receiver.mode = mode
    first = alerts.alert(finding_lake, DAY, DAY, DAY, webhook=receiver.url, pause=0,
                         timeout=0.5)
    assert first.sent == 0 and len(first.unknown) == 1 and not first.failed, first
    with pytest.raises(alerts.AlertError, match="may have arrived"):
        alerts.check(first, receiver.url)
    assert len(receiver.attempts) == 1 and not receiver.delivered  # posted once, dropped
    receiver.mode = "answer"
    second = alerts.alert(finding_lake, DAY, DAY, DAY, webhook=receiver.url, pause=0,
                          timeout=0.5)
    alerts.check(second, receiver.url)  # delivered: the run succeeds
    assert second.sent == 1 and second.messages == 1 and not second.unknown, second
    (key, _), (again, _) = receiver.attempts
    assert key and key == again and all(h == b for h, b in receiver.attempts)
    (body,) = receiver.delivered.values()
    assert len(body["findings"]) == 1
    third = alerts.alert(finding_lake, DAY, DAY, DAY, webhook=receiver.url, pause=0,
                         timeout=0.5)
    assert third.sent == 0 and third.already_sent == 1 and len(receiver.attempts) == 2


def test_the_alerts_command_exits_non_zero_while_an_alert_is_unknown(finding_lake,
                                                                       receiver):
    args = ["alerts", "--lake", finding_lake.url, "--days", str(DAY), "--today", str(DAY)]
    env = {"S3LOGS_ALERT_WEBHOOK": receiver.url}
    receiver.mode = "reset"
    out = cli(*args, env=env)
    assert out.returncode == 2 and "may have arrived" in out.stderr, out
    assert "Traceback" not in out.stderr
    receiver.mode = "answer"
    out = cli(*args, env=env)
    assert out.returncode == 0 and "1 findings sent" in out.stdout, out
    assert len(receiver.delivered) == 1 and len({k for k, _ in receiver.attempts}) == 1


# -- CSV: every column type ----------------------------------------------------------------

def test_spreadsheet_safe_neutralises_and_writes_every_column_type():
    table = duckdb.sql(r"""
        SELECT '=blob'::BLOB AS blob, '\xFF=bad'::BLOB AS bad_utf8,
               '=e'::ENUM('=e', 'ok') AS enum, ['=x', 'y'] AS list,
               {'a': '=b', 'n': 1} AS struct, MAP {'=k': 1} AS map, INTERVAL 1 DAY AS gap,
               '+text' AS text, -5 AS number, DATE '2026-11-20' AS day,
               NULL::VARCHAR[] AS nothing
    """).to_arrow_table()
    out = io.BytesIO()
    pacsv.write_csv(spreadsheet_safe(table), out)
    (row,) = csv.DictReader(io.StringIO(out.getvalue().decode()))
    assert row["blob"] == "'=blob" and row["bad_utf8"] == "\\xff=bad"  # lossless
    assert row["enum"] == "'=e" and row["text"] == "'+text"
    assert json.loads(row["list"]) == ["=x", "y"]
    assert json.loads(row["struct"]) == {"a": "=b", "n": 1}
    assert row["number"] == "-5" and row["day"] == "2026-11-20" and row["nothing"] == ""
    assert all(not v.startswith(("=", "+", "-", "@")) for k, v in row.items()
               if k != "number")


def test_query_csv_writes_blob_enum_and_list_columns_neutralised(tmp_path):
    lake = evil_lake(tmp_path)
    warehouse.build(lake, str(tmp_path / "w.duckdb"))
    env = {"S3LOGS_WAREHOUSE": str(tmp_path / "w.duckdb"), "S3LOGS_LAKE": lake.url}
    out = cli("query", "SELECT raw_line, '=e'::ENUM('=e') AS enum, ['=x'] AS list, "
              "{'k': raw_line} AS struct FROM quarantine", "--format", "csv", env=env)
    assert out.returncode == 0, out.stderr
    (row,) = csv.DictReader(io.StringIO(out.stdout))
    assert row["raw_line"] == "'=cmd|' /C calc'!A0 not a log line"
    assert row["enum"] == "'=e" and json.loads(row["list"]) == ["=x"]
    assert json.loads(row["struct"]) == {"k": "=cmd|' /C calc'!A0 not a log line"}
