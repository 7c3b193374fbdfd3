"""The HTML report, opened in a real headless Chromium as a person would."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from datetime import date
from pathlib import Path

import pytest

from pipelines import report
from tests.helpers import ALICE, BUCKET, S3LOGS, billing_lake

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START, END = date(2026, 11, 10), date(2026, 11, 11)


def png_colors(path: Path) -> int:
    """How many distinct pixel values a PNG holds (8-bit RGB/RGBA, no interlace)."""
    data = path.read_bytes()
    pos, chunks, width = 8, [], 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, color = struct.unpack(">IIBB", body[:10])
            channels = {2: 3, 6: 4}[color]
            assert depth == 8
        elif kind == b"IDAT":
            chunks.append(body)
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels + 1
    rows = [raw[i + 1:i + stride] for i in range(0, len(raw), stride)]
    sample = rows[::7]  # filtered bytes still differ wherever the picture does
    return len({r[j:j + channels] for r in sample for j in range(0, len(r), channels * 5)})


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    lake = billing_lake(tmp)
    out = tmp / "report.html"
    out.write_text(report.build(lake, START, END))
    return out


def test_report_is_self_contained(page):
    text = page.read_text()
    assert not re.search(r'(src|href)="https?://', text)  # nothing fetched: opens offline
    assert "<script" not in text
    assert text.count('class="chart"') == 7


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make test installs it)")
def test_report_renders_in_headless_chromium(page, tmp_path):
    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                          "--enable-logging=stderr", "--v=0", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line
               or "Uncaught" in line]
    assert console == []
    rendered = dom.stdout
    for chart in ("requests", "errors", "bytes", "latency", "cost-bucket", "cost-requester",
                  "findings"):
        assert f'id="{chart}"' in rendered
    series = re.findall(r'<polyline class="series" data-series="([^"]+)"', rendered)
    assert BUCKET in series and {"total p50", "total p95", "total p99"} <= set(series)
    assert re.search(r'class="series bar" data-series="fixture-bucket"', rendered)
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1000,2400",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120,
                   check=True)
    assert shot.stat().st_size > 20_000
    assert png_colors(shot) > 50  # drawn charts, not a blank page


def test_cli_report(tmp_path):
    lake = billing_lake(tmp_path)
    out_dir = tmp_path / "out"
    out = out_dir / "r.html"
    res = subprocess.run([S3LOGS, "report", "--start", str(START), "--end", str(END),
                          "--out", str(out)], capture_output=True, text=True, timeout=120,
                         env={"S3LOGS_LAKE": lake.url, "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    assert f"wrote {out}" in res.stdout
    # One self-contained file: nothing written beside it, nothing fetched when it opens.
    assert [p.name for p in out_dir.iterdir()] == ["r.html"]
    text = out.read_text()
    assert not re.search(r'(src|href)="https?://', text)
    assert "<script" not in text and "<link" not in text and "url(" not in text
    # The sections report.build writes, in its order: seven charts, then the tables.
    assert re.findall(r"<h2>([^<]*)</h2>", text) == [
        "Requests per day by bucket", "Errors (4xx and 5xx) per day by bucket",
        "Bytes sent per day by bucket", "Total time percentiles per day (ms)",
        "Estimated cost by bucket", "Estimated cost by requester",
        "Security findings by severity per day", "Top requesters", "Top keys",
        "New findings, high and medium",
        "Ongoing findings (found on several days; alerted once)", "Access policy"]
    assert re.findall(r'<svg id="([^"]+)" class="chart"', text) == [
        "requests", "errors", "bytes", "latency", "cost-bucket", "cost-requester", "findings"]
    # The days of the data: both days of the range, and not the fixture's 2024 day outside it.
    assert f"<h1>S3 access logs: {START} to {END}</h1>" in text
    assert "3,048 requests, 1 buckets" in text  # 3,028 on the first day + 20 on the second
    for day in (START, END):
        assert f"<title>{BUCKET} {day}: " in text  # a point on the requests chart per day
    assert "2024-05-12" not in text
    top = re.search(r"<h2>Top requesters</h2><table>(.*?)</table>", text).group(1)
    assert re.findall(r'<td class="">([^<]*)</td>', top) == [ALICE, "anonymous", "AmazonS3"]
    assert re.search(r'class="series bar" data-series="fixture-bucket"', text)
