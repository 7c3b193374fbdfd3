"""A self-contained HTML report: charts as inline SVG (no script, no CDN: it opens
offline and anywhere) and the top tables, computed from the SQL models over the lake."""

from __future__ import annotations

import html
import math
import os
import re
import uuid
from datetime import date
from pathlib import Path

import pyarrow as pa

from pipelines.lake.store import Lake
from pipelines.security.policy import NO_POLICY, PolicyFiles
from pipelines.sql import models
from pipelines.sql.catalog import Catalog, load
from pipelines.sql.session import session

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777",
           "#65a30d"]
SEVERITY_COLORS = {"high": "#dc2626", "medium": "#d97706", "low": "#2563eb", "info": "#94a3b8"}
W, H, PAD_L, PAD_B, PAD_T, PAD_R = 720, 260, 70, 40, 20, 150


def _esc(v) -> str:
    return html.escape("" if v is None else str(v))


def _fmt(v: float) -> str:
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"{v / size:,.1f}{unit}"
    return f"{v:,.2f}".rstrip("0").rstrip(".") if isinstance(v, float) else f"{v:,}"


def money(v: float) -> str:
    return f"${v:,.2f}" if abs(v) >= 0.01 or v == 0 else f"${v:,.4f}"


def nice_ticks(top: float) -> list[float]:
    """0 and round steps (1, 2, 2.5 or 5 times a power of ten) up to at least `top`."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [step * k for k in range(math.ceil(top / step - 1e-9) + 1)]


def principal_label(name: str, width: int = 38) -> str:
    """A principal short enough for a chart label, cut at its own boundaries, never in the
    middle of a name: roles and users by name and account, others kept from the end."""
    m = re.match(r"arn:aws[a-z-]*:(?:sts|iam)::(\d{12}|cloudfront):(assumed-role|user|role)/"
                 r"([^/]+)(?:/(.+))?$", name)
    if m:
        account, kind, who, session = m.groups()
        kind = kind.replace("assumed-", "")
        tries = [f"{who}/{session} ({kind}, {account})", f"{who}/{session}"] if session else []
        for label in [*tries, f"{who} ({kind}, {account})"]:
            if len(label) <= width:
                return label
        name = f"{who}/{session}" if session else who
    if len(name) <= width:
        return name
    cut = [i for i, c in enumerate(name) if c in "/:@ " and len(name) - i - 1 <= width - 1]
    return "…" + name[cut[0] + 1:] if cut else name[: width - 1] + "…"


def line_chart(chart_id: str, title: str, days: list[str], series: dict[str, list[float]],
               unit: str = "") -> str:
    """One polyline per series over the days, with axes, a legend and hover titles."""
    ticks = nice_ticks(max([v for vals in series.values() for v in vals] + [0]))
    top = ticks[-1]
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(i: int) -> float:
        return PAD_L + (plot_w * i / max(len(days) - 1, 1))

    def y(v: float) -> float:
        return PAD_T + plot_h * (1 - v / top)

    parts = [f'<svg id="{chart_id}" class="chart" viewBox="0 0 {W} {H}" role="img" '
             f'aria-label="{_esc(title)}">']
    for v in ticks:
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
                     f'class="grid"/><text x="{PAD_L - 6}" y="{y(v) + 4:.1f}" '
                     f'class="tick" text-anchor="end">{_fmt(v)}{unit}</text>')
    step = max(1, len(days) // 8)
    for i, d in enumerate(days):
        if i % step == 0:
            parts.append(f'<text x="{x(i):.1f}" y="{H - PAD_B + 16}" class="tick" '
                         f'text-anchor="middle">{_esc(d[5:])}</text>')
    for n, (name, values) in enumerate(series.items()):
        color = PALETTE[n % len(PALETTE)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline class="series" data-series="{_esc(name)}" fill="none" '
                     f'stroke="{color}" stroke-width="2.5" points="{points}"/>')
        for i, v in enumerate(values):
            parts.append(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{color}">'
                         f'<title>{_esc(name)} {_esc(days[i])}: {_fmt(v)}{unit}</title></circle>')
        parts.append(f'<rect x="{W - PAD_R + 12}" y="{PAD_T + 18 * n}" width="12" height="12" '
                     f'fill="{color}"/><text x="{W - PAD_R + 30}" y="{PAD_T + 18 * n + 10}" '
                     f'class="legend">{_esc(name[:18])}</text>')
    parts.append("</svg>")
    return _figure(title, "".join(parts))


def bar_chart(chart_id: str, title: str, bars: list[tuple[str, float]],
              show=_fmt, label=principal_label) -> str:
    """Horizontal bars, largest first; `show` formats a value, `label` a bar's name."""
    bars = bars[:12]
    top = max([v for _, v in bars] + [1e-12])
    row_h, label_w = 26, 260
    height = PAD_T + row_h * max(len(bars), 1) + 10
    parts = [f'<svg id="{chart_id}" class="chart" viewBox="0 0 {W} {height}" role="img" '
             f'aria-label="{_esc(title)}">']
    for i, (name, v) in enumerate(bars):
        y0 = PAD_T + i * row_h
        width = (W - label_w - 110) * v / top
        parts.append(f'<text x="{label_w - 8}" y="{y0 + 16}" class="tick" text-anchor="end">'
                     f'{_esc(label(name))}</text><rect class="series bar" '
                     f'data-series="{_esc(name)}" x="{label_w}" y="{y0 + 4}" '
                     f'width="{max(width, 1):.1f}" height="{row_h - 8}" fill="{PALETTE[0]}">'
                     f'<title>{_esc(name)}: {show(v)}</title></rect>'
                     f'<text x="{label_w + width + 6:.1f}" y="{y0 + 16}" class="tick">'
                     f'{show(v)}</text>')
    parts.append("</svg>")
    return _figure(title, "".join(parts))


def stacked_chart(chart_id: str, title: str, days: list[str],
                  stacks: dict[str, list[float]], colors: dict[str, str]) -> str:
    """Stacked columns per day (e.g. findings by severity)."""
    totals = [sum(vals[i] for vals in stacks.values()) for i in range(len(days))]
    ticks = nice_ticks(max(totals + [0]))
    top = ticks[-1]
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    col = plot_w / max(len(days), 1)
    parts = [f'<svg id="{chart_id}" class="chart" viewBox="0 0 {W} {H}" role="img" '
             f'aria-label="{_esc(title)}">']
    for v in ticks:
        yv = PAD_T + plot_h * (1 - v / top)
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{yv:.1f}" y2="{yv:.1f}" '
                     f'class="grid"/><text x="{PAD_L - 6}" y="{yv + 4:.1f}" class="tick" '
                     f'text-anchor="end">{_fmt(v)}</text>')
    for i, d in enumerate(days):
        base = 0.0
        for name, vals in stacks.items():
            h = plot_h * vals[i] / top
            y0 = PAD_T + plot_h - base - h
            parts.append(f'<rect class="series stack" data-series="{_esc(name)}" '
                         f'x="{PAD_L + i * col + col * 0.15:.1f}" y="{y0:.1f}" '
                         f'width="{col * 0.7:.1f}" height="{h:.1f}" fill="{colors[name]}">'
                         f'<title>{_esc(name)} {_esc(d)}: {vals[i]:,.0f}</title></rect>')
            base += h
        if i % max(1, len(days) // 8) == 0:
            parts.append(f'<text x="{PAD_L + i * col + col / 2:.1f}" y="{H - PAD_B + 16}" '
                         f'class="tick" text-anchor="middle">{_esc(d[5:])}</text>')
    for n, name in enumerate(stacks):
        parts.append(f'<rect x="{W - PAD_R + 12}" y="{PAD_T + 18 * n}" width="12" height="12" '
                     f'fill="{colors[name]}"/><text x="{W - PAD_R + 30}" '
                     f'y="{PAD_T + 18 * n + 10}" class="legend">{_esc(name)}</text>')
    parts.append("</svg>")
    return _figure(title, "".join(parts))


def table(title: str, rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(
        f'<td class="{"num" if isinstance(r.get(c), (int, float)) else ""}">'
        f'{_esc(_fmt(r[c]) if isinstance(r.get(c), (int, float)) else r.get(c))}</td>'
        for c in columns) + "</tr>" for r in rows)
    return f"<section><h2>{_esc(title)}</h2><table><tr>{head}</tr>{body}</table></section>"


def _ongoing(found: list[dict]) -> list[dict]:
    """One row per finding (finding_id) seen on more than one day of the report."""
    by_id: dict[str, dict] = {}
    for r in sorted(found, key=lambda r: r["dt"]):
        row = by_id.setdefault(r["finding_id"], {**r, "days": 0})
        row["days"] += 1
    return sorted((r for r in by_id.values() if r["days"] > 1 or r["status"] == "ongoing"),
                  key=lambda r: (-r["days"], r["detection"]))


def _policy_section(policy: list[dict], policies: str | None) -> str:
    if not policies:
        return ("<section><h2>Access policy</h2><p>No access policy file is set "
                "(S3LOGS_POLICIES, or the security resource's policies): declare who may "
                "access each bucket, from where, to "
                "audit against it.</p></section>")
    if not policy:
        return (f"<section><h2>Access policy</h2><p>No request broke the access policy "
                f"({_esc(policies)}).</p></section>")
    return table(f"Access policy violations ({policies})", policy[:40],
                 ["dt", "bucket", "detection", "principal", "sources", "request_count",
                  "rule", "status"])


def _figure(title: str, svg: str) -> str:
    return f"<section><h2>{_esc(title)}</h2>{svg}</section>"


def _by_day(t: pa.Table, days: list[str], key: str, value: str) -> dict[str, list[float]]:
    out: dict[str, dict[str, float]] = {}
    for r in t.to_pylist():
        out.setdefault(r[key], {})[r["dt"]] = float(r[value] or 0)
    return {k: [v.get(d, 0.0) for d in days] for k, v in sorted(out.items())}


def write(page: str, path: Path) -> None:
    """Write the page atomically: a reader never opens half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")  # runs at once
    tmp.write_text(page)
    os.replace(tmp, path)


# The catalog entries the page runs, in the order build() unpacks them; the report's
# asset waits for exactly the models these read.
READS = ("daily_by_bucket", "latency_daily", "billing_daily", "security_findings",
         "usage_top_n")


def build(lake: Lake, start: date, end: date, policy_files: PolicyFiles = NO_POLICY,
          catalog: Catalog | None = None) -> str:
    """The report for start..end (inclusive), as one HTML string; its access policy
    section names `policy_files.policies`."""
    catalog = catalog or load()
    con = session(lake, catalog, policy_files=policy_files)
    try:
        daily, latency, billing, findings, top = (
            models.query(con, catalog[name], start, end) for name in READS)
    finally:
        con.close()
    seen = sorted(set(daily["dt"].to_pylist()))
    if seen:  # no empty days before the data starts, or after it ends (not ingested yet)
        start = max(start, date.fromisoformat(seen[0]))
        end = min(end, date.fromisoformat(seen[-1]))
    days = models.days_between(start, end)
    s, e = str(start), str(end)

    cost_bucket: dict[str, float] = {}
    cost_requester: dict[str, float] = {}
    for r in billing.to_pylist():
        c = (r["request_cost_usd"] or 0) + (r["transfer_out_cost_usd"] or 0)
        cost_bucket[r["bucket"]] = cost_bucket.get(r["bucket"], 0) + c
        cost_requester[r["requester"]] = cost_requester.get(r["requester"], 0) + c
    severity = _by_day(findings.group_by(["dt", "severity"]).aggregate(
        [("request_count", "count")]), days, "severity", "request_count_count")
    severity = {k: severity.get(k, [0.0] * len(days)) for k in SEVERITY_COLORS}
    latency_series = {f"total {q}": [float(r[f"total_{q}"] or 0) for r in sorted(
        latency.to_pylist(), key=lambda r: r["dt"])] for q in ("p50", "p95", "p99")}
    lat_days = sorted(latency["dt"].to_pylist())
    requesters_top = {}
    for r in top.to_pylist():
        if r["dimension"] == "requester":
            requesters_top[r["value"]] = requesters_top.get(r["value"], 0) + r["requests"]
    keys_top: dict[str, int] = {}
    for r in top.to_pylist():
        if r["dimension"] == "key":
            keys_top[f"{r['bucket']}/{r['value']}"] = keys_top.get(
                f"{r['bucket']}/{r['value']}", 0) + r["requests"]
    found = findings.to_pylist()
    rank = {"high": 0, "medium": 1, "low": 2, "info": 3}
    worth = sorted((r for r in found if r["severity"] in ("high", "medium")
                    and r["status"] == "new" and not r["detection"].startswith("policy_")),
                   key=lambda r: (rank[r["severity"]], r["dt"], r["bucket"]))
    ongoing = _ongoing(found)
    policy = sorted((r for r in found if r["detection"].startswith("policy_")),
                    key=lambda r: (r["bucket"], r["detection"], r["dt"]))
    counts = {k: sum(1 for r in found if r["status"] == k) for k in ("new", "ongoing")}
    suppressed = sum(1 for r in found if r["suppressed"])

    body = [
        f"<header><h1>S3 access logs: {s} to {e}</h1><p>{sum(daily['requests'].to_pylist()):,}"
        f" requests, {len(set(daily['bucket'].to_pylist()))} buckets, estimated cost "
        f"{money(sum(cost_bucket.values()))}, {findings.num_rows:,} security findings "
        f"({counts['new']:,} new, {counts['ongoing']:,} ongoing, {suppressed:,} suppressed)."
        "</p></header>",
        line_chart("requests", "Requests per day by bucket", days,
                   _by_day(daily, days, "bucket", "requests")),
        line_chart("errors", "Errors (4xx and 5xx) per day by bucket", days,
                   _by_day(daily, days, "bucket", "errors")),
        line_chart("bytes", "Bytes sent per day by bucket", days,
                   _by_day(daily, days, "bucket", "bytes_sent"), "B"),
        line_chart("latency", "Total time percentiles per day (ms)", lat_days or days,
                   latency_series, " ms"),
        bar_chart("cost-bucket", "Estimated cost by bucket",
                  sorted(cost_bucket.items(), key=lambda kv: -kv[1]), money),
        bar_chart("cost-requester", "Estimated cost by requester",
                  sorted(cost_requester.items(), key=lambda kv: -kv[1]), money),
        stacked_chart("findings", "Security findings by severity per day", days, severity,
                      SEVERITY_COLORS),
        table("Top requesters", [{"requester": k, "requests": v} for k, v in sorted(
            requesters_top.items(), key=lambda kv: -kv[1])[:10]], ["requester", "requests"]),
        table("Top keys", [{"key": k, "requests": v} for k, v in sorted(
            keys_top.items(), key=lambda kv: -kv[1])[:10]], ["key", "requests"]),
        table("New findings, high and medium", worth[:40],
              ["dt", "severity", "bucket", "detection", "principal", "sources",
               "request_count", "rule"]),
        table("Ongoing findings (found on several days; alerted once)", ongoing[:25],
              ["detection", "bucket", "principal", "sources", "severity", "first_detected",
               "days", "suppressed"]),
        _policy_section(policy, policy_files.policies),
    ]
    return PAGE.format(title=_esc(f"S3 access logs {s} to {e}"), body="\n".join(body))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 900px; color: #0f172a; background: #fff; }}
h1 {{ font-size: 22px; margin: 0 0 4px; }} h2 {{ font-size: 16px; margin: 28px 0 8px; }}
header p {{ color: #475569; margin: 0; }}
svg.chart {{ width: 100%; height: auto; background: #f8fafc; border-radius: 6px; }}
.grid {{ stroke: #e2e8f0; }} .tick, .legend {{ font-size: 11px; fill: #475569; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ text-align: left; padding: 4px 8px; border-bottom: 1px solid #e2e8f0;
          max-width: 420px; overflow-wrap: anywhere; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
</style></head>
<body>
{body}
<footer><p>Generated by s3logs from the Parquet lake. Costs are estimates (us-east-1
S3 Standard prices; see sql/billing/prices.csv).</p></footer>
</body></html>
"""
