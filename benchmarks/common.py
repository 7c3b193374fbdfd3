"""Shared benchmark plumbing: cached inputs, isolated runs, a results table."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from pipelines.config import parse_size

BENCH_DIR = Path(os.environ.get("S3LOGS_BENCH_DIR", ".bench"))


def size_from_env(name: str, default: str) -> int:
    return parse_size(os.environ.get(name, default))


def run_isolated(module: str, *args: str) -> dict:
    """Run `python -m module args` in a fresh process so its peak RSS is its own."""
    out = subprocess.run([sys.executable, "-m", module, *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_rss_mib() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across
    fork+exec from the parent, which would charge us the benchmark driver's memory."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured(fn, *args) -> dict:
    """Call fn, return its result dict plus wall seconds and this process's peak RSS."""
    started = time.perf_counter()
    result = fn(*args)
    result["seconds"] = time.perf_counter() - started
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def print_table(title: str, rows: list[dict], columns: list[tuple[str, str]]) -> None:
    """A plain text table: `columns` are (key, header) pairs."""
    cells = [[_fmt(r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h) in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(h.rjust(w) for (_, h), w in zip(columns, widths)))
    for c in cells:
        print("  ".join(v.rjust(w) for v, w in zip(c, widths)))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v) if v is not None else ""
