"""Alerts: new findings at or above a severity, posted to a webhook, never twice.

One message per finding group (bucket and detection) with a Slack-compatible `text` and
the findings as JSON. Each finding is claimed in the lake (`_alerts/FINDING_ID.json`,
created only if absent) before its message is posted, so re-runs, backfills and two runs
at once never send it again; a message that cannot be delivered gives its claims back,
so the next run sends it. A post whose answer never came (a timeout, a connection reset
after the request went out) may have arrived: it is UNKNOWN, kept as it was sent
(`_alerts/unknown/KEY.json`) and posted again by the next runs with the same
`Idempotency-Key` (an HTTP header and the body's `idempotency_key`), on which the receiver
drops duplicates; until it is answered, runs fail. Text from log content is shown with
its control characters escaped (pipelines.textsafe) and escaped as Slack asks (&, <, >),
so a key or a user agent can neither mention a channel, forge a link nor drive a terminal.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import groupby

from pipelines.lake.store import Lake, json_bytes
from pipelines.sql.catalog import load
from pipelines.sql.session import query, session
from pipelines.textsafe import visible

STATE = "_alerts"
UNKNOWN = "unknown"  # STATE/UNKNOWN/KEY.json: messages that may have arrived
ATTEMPTS = 3
TIMEOUT = 10.0  # seconds a post waits for its answer
MAX_AGE_DAYS = 3
MAX_LISTED = 10  # findings written out per message; the rest are counted
SENT = "sent"


class AlertError(RuntimeError):
    """Alerts could not be delivered; one sentence."""


class NoAnswer(Exception):
    """The request went out but no answer came back (a timeout, a reset): it may have
    arrived."""


@dataclass
class AlertRun:
    candidates: int = 0          # findings at or above the severity, not suppressed
    already_sent: int = 0        # claimed by an earlier run
    sent: int = 0                # findings in the messages delivered now
    messages: int = 0
    failed: list[str] = field(default_factory=list)   # groups not delivered (retried later)
    unknown: list[str] = field(default_factory=list)  # may have arrived: retried, same key


Post = Callable[[str, bytes, str, float], int]  # (url, body, key, timeout) -> HTTP status


def post_json(url: str, body: bytes, key: str, timeout: float = TIMEOUT) -> int:
    """POST a JSON body with its Idempotency-Key; the HTTP status (an error answer is
    returned, not raised). NoAnswer once the request is out and no answer comes; any other
    OSError means it never went out (urllib wraps what fails before then in URLError)."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Idempotency-Key": key})
    try:
        answer = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310
    except urllib.error.HTTPError as e:
        return e.code
    except urllib.error.URLError:
        raise  # it failed before the request was out: not delivered
    except (OSError, http.client.HTTPException) as e:
        raise NoAnswer(str(e) or type(e).__name__) from e
    with answer:
        return answer.status


def alert(lake: Lake, start: date, end: date, today: date, *, webhook: str | None,
          min_severity: str = "medium", max_age_days: int = MAX_AGE_DAYS,
          post: Post = post_json, pause: float = 1.0, timeout: float = TIMEOUT) -> AlertRun:
    """Send what security_findings holds for the days (as materialized in the lake).
    Only days from `today - max_age_days` on: a backfill of history pages nobody."""
    con = session(lake)
    try:
        rel = query(con, load()["alert_candidates"], start.isoformat(), end.isoformat(),
                    min_severity=min_severity,
                    not_before=(today - timedelta(days=max_age_days)).isoformat())
        findings = rel.to_arrow_table().to_pylist()
    finally:
        con.close()
    return send(lake, findings, webhook, post=post, pause=pause, timeout=timeout)


def send(lake: Lake, findings: list[dict], webhook: str | None, *,
         post: Post = post_json, pause: float = 1.0, timeout: float = TIMEOUT) -> AlertRun:
    """Post again the messages earlier runs left unknown, then the findings not alerted
    yet, one message per (bucket, detection)."""
    run = AlertRun(candidates=len(findings))
    if webhook is None:
        return run  # nothing to send to: nothing claimed either
    deliver = lambda body, key: _deliver(webhook, body, key, post, pause, timeout)  # noqa: E731
    for path in _unknown_messages(lake):
        _retry(lake, path, deliver, run)
    me = uuid.uuid4().hex
    group_of = lambda f: (f["bucket"], f["detection"])  # noqa: E731
    for (bucket, detection), group in groupby(sorted(findings, key=group_of), key=group_of):
        group = list(group)
        claimed = [f for f in group if _claim(lake, f, me)]
        run.already_sent += len(group) - len(claimed)
        if claimed:
            _post_new(lake, f"{detection} on {bucket}", claimed,
                      json.dumps(body(bucket, detection, claimed), default=str), deliver, run)
    return run


def idempotency_key(findings: list[dict]) -> str:
    """The key of the message about these findings: the same findings, the same key, so
    a receiver can drop a message it already has."""
    ids = " ".join(sorted(str(f["finding_id"]) for f in findings))
    return hashlib.sha256(ids.encode()).hexdigest()[:32]


def body(bucket: str, detection: str, findings: list[dict]) -> dict:
    """The JSON posted: Slack's `text`, the idempotency key, the findings."""
    return {"text": message(bucket, detection, findings),
            "idempotency_key": idempotency_key(findings),
            "findings": [_plain(f) for f in findings]}


def _post_new(lake: Lake, what: str, claimed: list[dict], json_text: str,
              deliver: Callable[[bytes, str], str], run: AlertRun) -> None:
    """Post the message about findings this run has claimed. Not delivered, or an error
    of ours: the claims go back, for the next run. Unknown (or interrupted while
    posting): the message is kept as it is, for the next runs to post again."""
    kept = {"what": what, "key": idempotency_key(claimed), "findings": len(claimed),
            "body": json_text}
    try:
        outcome = deliver(json_text.encode(), kept["key"])
    except Exception:
        _release(lake, claimed)
        raise
    except BaseException:
        _keep_unknown(lake, kept)
        raise
    if outcome == UNKNOWN:
        _keep_unknown(lake, kept)
    elif outcome != SENT:
        _release(lake, claimed)
    _count(run, what, outcome, len(claimed))


def _retry(lake: Lake, path: str, deliver: Callable[[bytes, str], str],
           run: AlertRun) -> None:
    """Post an unknown message again, byte for byte, with its key; delivered, it is
    forgotten, otherwise it stays unknown (an earlier post may still have arrived)."""
    kept = lake.read_json(path)
    if kept is None:  # a run at once delivered it
        return
    outcome = deliver(kept["body"].encode(), kept["key"])
    if outcome == SENT:
        lake.delete(path)
    _count(run, kept["what"], SENT if outcome == SENT else UNKNOWN, kept["findings"])


def _count(run: AlertRun, what: str, outcome: str, findings: int) -> None:
    if outcome == SENT:
        run.sent += findings
        run.messages += 1
    elif outcome == UNKNOWN:
        run.unknown.append(what)
    else:
        run.failed.append(f"{what} ({outcome})")


def _deliver(webhook: str, data: bytes, key: str, post: Post, pause: float,
             timeout: float) -> str:
    """SENT, UNKNOWN (the request went out and no answer came: it may have arrived), or
    why it was not delivered after ATTEMPTS tries."""
    why = ""
    for attempt in range(ATTEMPTS):
        try:
            status = post(webhook, data, key, timeout)
        except NoAnswer:
            return UNKNOWN
        except (OSError, http.client.HTTPException) as e:  # refused, unreachable
            why = str(getattr(e, "reason", e)) or type(e).__name__
        else:
            if 200 <= status < 300:
                return SENT
            why = f"HTTP {status}"
        time.sleep(pause * (attempt + 1))
    return why


def check(run: AlertRun, webhook: str) -> None:
    """Raise if messages were left undelivered, or unknown."""
    host = webhook.split("/")[2] if "//" in webhook else webhook
    if run.unknown:
        raise AlertError(f"{len(run.unknown)} alert message(s) got no answer from {host} "
                         f"(first: {run.unknown[0]}) and may have arrived: make sure the "
                         "receiver answers in time and drops repeats of an Idempotency-Key, "
                         "then run again, which posts them again with the same key")
    if run.failed:
        raise AlertError(f"{len(run.failed)} alert message(s) could not be delivered to {host} "
                         f"after {ATTEMPTS} attempts (first: {run.failed[0]}): check "
                         "S3LOGS_ALERT_WEBHOOK; the next run sends them")


def message(bucket: str, detection: str, findings: list[dict]) -> str:
    """Slack's `text`: the group, then a line per finding (at most MAX_LISTED)."""
    worst = max(findings, key=lambda f: ("info", "low", "medium", "high").index(f["severity"]))
    lines = [f"*[{_esc(worst['severity'].upper())}] {_esc(detection)} on {_esc(bucket)}*: "
             f"{len(findings)} new finding{'s' * (len(findings) != 1)}"]
    for f in findings[:MAX_LISTED]:
        who = " ".join(_esc(x) for x in (f["principal"], f["sources"]) if x)
        ids = ", ".join(_esc(i) for i in (f["sample_request_ids"] or []))
        lines.append(f"• {_esc(f['dt'])} {who or 'bucket'}: {_esc(f['rule'] or '')} "
                     f"({f['request_count']:,} requests; e.g. {ids or 'no sample'}; "
                     f"finding {_esc(f['finding_id'])})")
    if len(findings) > MAX_LISTED:
        lines.append(f"… and {len(findings) - MAX_LISTED} more")
    return "\n".join(lines)


def _esc(value) -> str:
    """Log content as chat text: control characters shown as escapes, so none reaches a
    terminal or breaks a line, and &, < and > as Slack asks, so none mentions or links."""
    text = visible(str(value))
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(f: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in f.items()}


def _claim(lake: Lake, finding: dict, me: str) -> bool:
    """Claim the finding for this run; False if another run (or an earlier one) has. The
    claim read back says whose it is: our own PUT, retried after a lost answer, is refused
    as if someone else had made it."""
    path = lake.path(STATE, f"{finding['finding_id']}.json")
    lake.put_new(path, json_bytes({"finding_id": finding["finding_id"], "run": me,
                                   "dt": str(finding["dt"]), "detection": finding["detection"]}))
    return (lake.read_json(path) or {}).get("run") == me


def _release(lake: Lake, findings: list[dict]) -> None:
    lake.delete(*(lake.path(STATE, f"{f['finding_id']}.json") for f in findings))


def _keep_unknown(lake: Lake, kept: dict) -> None:
    """Keep a message that may have arrived (its findings stay claimed) for the next run
    to post again as it is: what it is about, its key, how many findings, its body."""
    lake.put(lake.path(STATE, UNKNOWN, f"{kept['key']}.json"), json_bytes(kept))


def _unknown_messages(lake: Lake) -> list[str]:
    """The messages earlier runs kept as unknown (not the hidden files of a write)."""
    return [p for p in lake.find(lake.path(STATE, UNKNOWN))
            if p.endswith(".json") and not p.rsplit("/", 1)[-1].startswith(".")]
