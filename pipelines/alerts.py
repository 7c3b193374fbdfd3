"""Alerts: new findings at or above a severity, posted to a webhook, never twice.

One message per finding group (bucket and detection) with a Slack-compatible `text` and
the findings as JSON. Each finding is claimed in the lake (`_alerts/FINDING_ID.json`,
created only if absent) before its message is posted, so re-runs, backfills and two runs
at once never send it again; a message that cannot be delivered gives its claims back,
so the next run sends it (a post that got no answer in time is not repeated: it may have
arrived, and once is better than twice). Text from log content is escaped as Slack asks
(&, <, >), so a key or a user agent cannot mention a channel or forge a link.
"""

from __future__ import annotations

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

from .catalog import load
from .lake import Lake, json_bytes
from .session import query, session

STATE = "_alerts"
ATTEMPTS = 3
MAX_AGE_DAYS = 3
MAX_LISTED = 10  # findings written out per message; the rest are counted


class AlertError(RuntimeError):
    """Alerts could not be delivered; one sentence."""


@dataclass
class AlertRun:
    candidates: int = 0          # findings at or above the severity, not suppressed
    already_sent: int = 0        # claimed by an earlier run
    sent: int = 0                # findings in the messages delivered now
    messages: int = 0
    failed: list[str] = field(default_factory=list)   # groups not delivered (retried later)
    unconfirmed: list[str] = field(default_factory=list)  # no answer in time: not re-sent


Post = Callable[[str, bytes], int]


def post_json(url: str, body: bytes, timeout: float = 10.0) -> int:
    """POST a JSON body; the HTTP status (an error answer is returned, not raised; no
    answer in time raises TimeoutError)."""
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code
    except urllib.error.URLError as e:
        if isinstance(e.reason, TimeoutError):
            raise e.reason from None
        raise


def alert(lake: Lake, start: date, end: date, today: date, *, webhook: str | None,
          min_severity: str = "medium", max_age_days: int = MAX_AGE_DAYS,
          post: Post = post_json, pause: float = 1.0) -> AlertRun:
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
    return send(lake, findings, webhook, post=post, pause=pause)


def send(lake: Lake, findings: list[dict], webhook: str | None, *,
         post: Post = post_json, pause: float = 1.0) -> AlertRun:
    """Post the findings not alerted yet, one message per (bucket, detection)."""
    run = AlertRun(candidates=len(findings))
    if webhook is None:
        return run  # nothing to send to: nothing claimed either
    me = uuid.uuid4().hex
    key = lambda f: (f["bucket"], f["detection"])  # noqa: E731
    for (bucket, detection), group in groupby(sorted(findings, key=key), key=key):
        group = list(group)
        claimed = [f for f in group if _claim(lake, f, me)]
        run.already_sent += len(group) - len(claimed)
        if not claimed:
            continue
        body = json.dumps({"text": message(bucket, detection, claimed),
                           "findings": [_plain(f) for f in claimed]}, default=str).encode()
        outcome = "not sent"
        try:
            outcome = _deliver(webhook, body, post, pause)
        finally:  # whatever stops us (an error, an interrupt), undelivered claims go back
            if outcome not in ("sent", "unconfirmed"):
                _release(lake, claimed)
        if outcome == "sent":
            run.sent += len(claimed)
            run.messages += 1
        elif outcome == "unconfirmed":  # it may have arrived: better once than twice
            run.unconfirmed.append(f"{detection} on {bucket}")
        else:
            run.failed.append(f"{detection} on {bucket} ({outcome})")
    return run


def _deliver(webhook: str, body: bytes, post: Post, pause: float) -> str:
    """'sent', 'unconfirmed' (no answer in time: it may have arrived, so it is not posted
    again), or why it was not delivered after ATTEMPTS tries."""
    why = ""
    for attempt in range(ATTEMPTS):
        try:
            status = post(webhook, body)
        except TimeoutError:
            return "unconfirmed"
        except (OSError, http.client.HTTPException) as e:  # refused, reset, garbled
            why = str(getattr(e, "reason", e)) or type(e).__name__
        else:
            if 200 <= status < 300:
                return "sent"
            why = f"HTTP {status}"
        time.sleep(pause * (attempt + 1))
    return why


def check(run: AlertRun, webhook: str) -> None:
    """Raise if messages were left undelivered."""
    if run.failed:
        host = webhook.split("/")[2] if "//" in webhook else webhook
        raise AlertError(f"{len(run.failed)} alert message(s) could not be delivered to {host} "
                         f"after {ATTEMPTS} attempts (first: {run.failed[0]}): check "
                         "S3LOGS_ALERT_WEBHOOK; the next run sends them")


def message(bucket: str, detection: str, findings: list[dict]) -> str:
    worst = max(findings, key=lambda f: ("info", "low", "medium", "high").index(f["severity"]))
    lines = [f"*[{worst['severity'].upper()}] {_esc(detection)} on {_esc(bucket)}*: "
             f"{len(findings)} new finding{'s' * (len(findings) != 1)}"]
    for f in findings[:MAX_LISTED]:
        who = " ".join(_esc(str(x)) for x in (f["principal"], f["remote_ip"]) if x)
        ids = ", ".join(_esc(i) for i in (f["sample_request_ids"] or []))
        lines.append(f"• {f['dt']} {who or 'bucket'}: {_esc(f['rule'] or '')} "
                     f"({f['request_count']:,} requests; e.g. {ids or 'no sample'}; "
                     f"finding {f['finding_id']})")
    if len(findings) > MAX_LISTED:
        lines.append(f"… and {len(findings) - MAX_LISTED} more")
    return "\n".join(lines)


def _esc(text: str) -> str:
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
