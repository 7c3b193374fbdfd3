"""One poison object must not stop every run forever: each of these used to fail the
whole run with a traceback, writing nothing, on every re-run. Now each is quarantined (as
lines, or as an object), in bounded memory, and the rest of the run goes on."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pyarrow.parquet as pq

from pipelines.lake.store import Lake
from tests.loglines import line

DAY = "2026-11-16"
GOOD = b"\n".join(line(key=f"good-{i}", time="[16/Nov/2026:05:00:00 +0000]",
                       request_id=f"G{i}") for i in range(20)) + b"\n"
# Ingest in a process of its own, and report its peak memory with the run's report.
RUN = """
import json, sys
from datetime import date
from pipelines.ingestion.ingest import ingest
from pipelines.lake.store import Lake
from pipelines.ingestion.sources import LogSource
report = ingest([LogSource(sys.argv[1])], Lake(sys.argv[2]),
                [date.fromisoformat(sys.argv[3])], progress=False)
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(json.dumps({"report": report.as_dict(), "peak_mib": hwm / 1024}))
"""


def ingest_apart(logs: Path, lake: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", RUN, str(logs), str(lake), DAY],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def logs_with(tmp_path: Path, name: str, body: bytes) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / f"{DAY}-05-00-00-00000000000000A1").write_bytes(GOOD)
    (folder / f"{DAY}-05-00-00-{name}").write_bytes(body)
    return folder


def gzip_stream(*parts: tuple[bytes, int]) -> bytes:
    """gzip of each (bytes, times) repeated, without building the plain text in memory."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [z.compress(piece) for piece, times in parts for _ in range(times)]
    return b"".join(out) + z.flush()


def quarantine(lake: Path) -> list[dict]:
    return [r for f in Lake(str(lake)).files("quarantine") for r in pq.read_table(f).to_pylist()]


def records(lake: Path) -> int:
    return Lake(str(lake)).dataset().count_rows()


def test_a_bucket_name_too_long_for_a_folder_is_quarantined_not_fatal(tmp_path):
    """`OSError: File name too long`, before: legacy names may have 255 characters."""
    legacy = "A" * 249
    logs = logs_with(tmp_path, "00000000000000B2", line(bucket=legacy) + b"\n" + line(
        key="after", request_id="AFTER", time="[16/Nov/2026:05:00:00 +0000]") + b"\n")
    result = ingest_apart(logs, tmp_path / "lake")
    (bad,) = quarantine(tmp_path / "lake")
    assert bad["raw_line"] == line(bucket=legacy)
    assert "longer than a lake folder name allows" in bad["reason"]
    assert records(tmp_path / "lake") == 21 and result["report"]["days"][0]["rows_parsed"] == 21


def test_a_gzip_of_zeros_is_one_long_line_read_in_bounded_memory(tmp_path):
    """1.1 MB that expands to 256 MiB without a newline: 3.2 GB, then MemoryError, before."""
    bomb = gzip_stream((b"\0" * (1 << 20), 256))
    assert len(bomb) < 2 << 20
    logs = logs_with(tmp_path, "00000000000000B3", bomb)
    result = ingest_apart(logs, tmp_path / "lake")
    (long_line,) = quarantine(tmp_path / "lake")
    assert long_line["reason"].startswith("a line of 268,435,456 bytes, longer than any log")
    assert long_line["raw_line"] == b"\0" * 4096
    assert records(tmp_path / "lake") == 20
    assert result["peak_mib"] < 1024, result["peak_mib"]


def test_a_compression_bomb_is_cut_short(tmp_path):
    """2 GiB of zeros from 2 MB: its growth was quadratic before; now it is read until it
    has expanded past a GiB and a hundredfold, then cut with a reason."""
    bomb = gzip_stream((b"\0" * (1 << 20), 2048))
    logs = logs_with(tmp_path, "00000000000000B4", bomb)
    result = ingest_apart(logs, tmp_path / "lake")
    reasons = sorted(q["reason"] for q in quarantine(tmp_path / "lake"))
    assert len(reasons) == 2 and "which log text never does" in reasons[1]
    assert reasons[0].startswith("a line of ")  # the zeros read until then: one long line
    assert records(tmp_path / "lake") == 20
    assert result["peak_mib"] < 1024, result["peak_mib"]


def test_blank_lines_around_a_bad_line_cost_no_memory(tmp_path):
    """One invalid-bucket line in 256 MiB of blank lines: its raw line was found again by
    decompressing and splitting the whole object (4.5 GB for 1 GiB of blanks), before."""
    body = gzip_stream((line(bucket="../../escape") + b"\n", 1), (b"\n" * (1 << 20), 256))
    logs = logs_with(tmp_path, "00000000000000B5", body)
    result = ingest_apart(logs, tmp_path / "lake")
    (bad,) = quarantine(tmp_path / "lake")
    assert bad["raw_line"] == line(bucket="../../escape") and bad["line_number"] == 1
    assert records(tmp_path / "lake") == 20
    assert result["peak_mib"] < 1024, result["peak_mib"]


def test_a_huge_line_without_a_newline_is_read_past(tmp_path):
    """A 200 MB line: quarantined before too, but with 3 GB of memory."""
    logs = logs_with(tmp_path, "00000000000000B6", b"x" * (200 << 20))
    result = ingest_apart(logs, tmp_path / "lake")
    (long_line,) = quarantine(tmp_path / "lake")
    assert long_line["reason"].startswith("a line of 209,715,200 bytes")
    assert result["peak_mib"] < 1024, result["peak_mib"]


def test_a_symlink_loop_in_a_local_source_is_not_followed(tmp_path):
    logs = logs_with(tmp_path, "00000000000000B7", GOOD.replace(b"good-", b"more-"))
    os.symlink(logs, logs / "loop")
    result = ingest_apart(logs, tmp_path / "lake")
    assert result["report"]["days"][0]["objects_ingested"] == 2
    assert records(tmp_path / "lake") == 40


def test_links_and_special_files_are_named_not_followed_and_stop_nothing(tmp_path):
    """A link to itself stopped every day of its source ("Too many levels of symbolic
    links", exit 1); a link to /etc/passwd was read into the quarantine, where analysts
    read it. Now no link is followed, each is named in the report, and the rest goes on."""
    logs = logs_with(tmp_path, "00000000000000B9", GOOD.replace(b"good-", b"more-"))
    loop = logs / f"{DAY}-06-00-00-00000000000000C1"
    os.symlink(loop, loop)
    os.symlink("/etc/passwd", logs / f"{DAY}-06-00-00-00000000000000C2")
    os.symlink(logs / f"{DAY}-05-00-00-00000000000000A1", logs / f"{DAY}-06-00-00-0000000000C3")
    os.mkfifo(logs / f"{DAY}-06-00-00-00000000000000C4")
    result = ingest_apart(logs, tmp_path / "lake")
    (day,) = result["report"]["days"]
    assert day["objects_ingested"] == 2 and day["error"] is None
    assert records(tmp_path / "lake") == 40 and quarantine(tmp_path / "lake") == []
    skipped = {s.split(": ", 1)[0].rsplit("/", 1)[-1]: s for s in day["skipped"]}
    assert sorted(skipped) == [f"{DAY}-06-00-00-00000000000000C1",
                               f"{DAY}-06-00-00-00000000000000C2",
                               f"{DAY}-06-00-00-00000000000000C4",
                               f"{DAY}-06-00-00-0000000000C3"]
    assert "symbolic link" in skipped[f"{DAY}-06-00-00-00000000000000C2"]
    assert "not a regular file" in skipped[f"{DAY}-06-00-00-00000000000000C4"]
    cli = subprocess.run([str(Path(sys.executable).parent / "s3logs"), "ingest", "--source",
                          str(logs), "--lake", str(tmp_path / "lake2"), "--days", DAY],
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stderr
    assert f"not read: {loop}: a symbolic link" in cli.stdout


def test_gzip_and_plain_objects_still_parse_the_same(tmp_path):
    logs = logs_with(tmp_path, "00000000000000B8", gzip.compress(GOOD.replace(b"good-", b"gz-")))
    ingest_apart(logs, tmp_path / "lake")
    assert records(tmp_path / "lake") == 40 and quarantine(tmp_path / "lake") == []
