"""Scale: the estate generator's traffic (`s3logs synth`) at scales 1, 4, 16
and 64, each with 28 days of history before a measured day. Per scale: the day's and the
history's rows, ingest MB/s and peak RSS (history and day in one `ingest`), and the
seconds of every SQL model on the measured day, after the history's days were computed
(untimed, one `run_models` per day, as the daily schedule runs them). Then the issue's
ratios, each beside its limit, and a projection to a day of a billion requests.

    python -m benchmarks scale          (make bench scale)

Every measured step runs in a fresh process (`python -m benchmarks.scale_bench STEP ...`),
so its peak RSS is its own; the driver holds no rows. Generated logs are cached under
S3LOGS_BENCH_DIR/scale/logs/, keyed by scale, days, first day and seed; the lakes are
deleted once their scale is done. Settings (environment):

    S3LOGS_BENCH_SCALES=1,4,16,64     the scales
    S3LOGS_BENCH_HISTORY_DAYS=28      days before the measured day
    S3LOGS_BENCH_SHORT_HISTORY=7      the shorter history of the history-length ratio
    S3LOGS_BENCH_COMPARE_SCALE=16     where the history, security and billing ratios run
    S3LOGS_BENCH_DAY=2027-02-28       the measured day (a month's last day: the month's
                                      1st is in the history for the billing ratio)
    S3LOGS_BENCH_SEED=11
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

from benchmarks.common import BENCH_DIR, measured, print_table, run_isolated

BASELINE_SQL = Path(__file__).parent / "baseline_sql" / "security_detections.sql"
# DuckDB's own default (80% of the machine), which sessions had before they were bounded:
# the baseline reads the whole lake up to the day and would not fit our session's limit.
BASELINE_MEMORY = f"{int(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') * 0.8) >> 20}MB"
GiB, MiB = 2**30, 2**20
LIMITS = {"scale_ratio": 4.5, "history_ratio": 1.3, "security_speedup": 5.0,
          "models_rss_mib": 2 * GiB / MiB, "ingest_rate_ratio": 0.85,
          "ingest_rss_mib": GiB / MiB, "billing_ratio": 1.5}


# ---------------------------------------------------------------------------------------
# Steps, each in its own process: `python -m benchmarks.scale_bench STEP ARGS` prints one
# JSON line (what `run_isolated` reads).

def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _records_per_day(lake_dir: str) -> dict[str, int]:
    """Rows per dt of the lake's records, from the Parquet footers only."""
    import pyarrow.parquet as pq

    from pipelines.lake.store import Lake

    counts: dict[str, int] = {}
    for path in Lake(lake_dir).files("access_logs"):
        m = re.search(r"/dt=([0-9-]{10})/", path)
        if m:
            counts[m.group(1)] = counts.get(m.group(1), 0) + pq.read_metadata(path).num_rows
    return dict(sorted(counts.items()))


def step_ingest(logs: str, lake_dir: str, days_json: str) -> dict:
    """Ingest the delivery days of the cached logs into a new lake (timed), units on
    every core, as `s3logs ingest` runs them."""
    from pipelines.cli.ingest import cores
    from pipelines.ingestion.ingest import ingest
    from pipelines.ingestion.sources import LogSource
    from pipelines.lake.store import Lake

    days = [date.fromisoformat(d) for d in json.loads(days_json)]

    def run() -> dict:
        report = ingest([LogSource(logs, layout="simple")], Lake(lake_dir), days,
                        progress=False, workers=cores())
        return {"bytes": report.total("bytes_fetched"), "rows": report.total("rows_parsed"),
                "objects": report.total("objects_ingested")}

    cpu = _cpu_seconds()
    result = measured(run)
    result["cpu_s"] = _cpu_seconds() - cpu
    result["per_day"] = _records_per_day(lake_dir)  # after the peak RSS was read
    return result


def step_history(lake_dir: str, days_json: str) -> dict:
    """Every model on each history day, one day after the other (untimed by the issue)."""
    from pipelines.lake.store import Lake
    from pipelines.sql import models

    lake, seconds = Lake(lake_dir), []
    for day in json.loads(days_json):
        started = time.perf_counter()
        models.run_models(lake, date.fromisoformat(day), date.fromisoformat(day))
        seconds.append(time.perf_counter() - started)
    return {"days": len(seconds), "seconds": sum(seconds), "max_day_s": max(seconds, default=0)}


def step_day(lake_dir: str, day_text: str) -> dict:
    """Every model of the catalog on the measured day, in catalog order, each timed with
    `run_model` in one session. A model that reads a model written earlier in this run
    gets a fresh session first (untimed), so it sees those results, as in `run_models`."""
    from pipelines.lake.store import Lake
    from pipelines.sql import models
    from pipelines.sql.catalog import Kind, load
    from pipelines.sql.session import session

    lake, day, catalog = Lake(lake_dir), date.fromisoformat(day_text), load()

    def run() -> dict:
        times, rows, filled = {}, {}, {}
        con, written = session(lake, catalog), set()
        try:
            for name in models.model_names(catalog):
                if written & set(catalog.reads(catalog[name], Kind.MODEL)):
                    con.close()
                    con, written = session(lake, catalog), set()
                started = time.perf_counter()
                outcome = models.run_model(lake, name, day, day, con=con, catalog=catalog)
                times[name] = time.perf_counter() - started
                rows[name] = outcome.rows
                # earlier days the runner had to compute first: the history was incomplete
                filled[name] = len(getattr(outcome, "filled", ()))
                if outcome.files:
                    written.add(name)
        finally:
            con.close()
        return {"models": times, "rows_out": rows, "filled": filled,
                "models_s": sum(times.values())}

    cpu = _cpu_seconds()
    result = measured(run)
    result["cpu_s"] = _cpu_seconds() - cpu
    return result


def step_billing(lake_dir: str, first_text: str, last_text: str) -> dict:
    """billing_daily on the month's 1st and on a later day of it, alternating, best of 2."""
    from pipelines.lake.store import Lake
    from pipelines.sql import models
    from pipelines.sql.catalog import load
    from pipelines.sql.session import session

    lake, catalog = Lake(lake_dir), load()
    days = {"first": date.fromisoformat(first_text), "last": date.fromisoformat(last_text)}
    best = {k: float("inf") for k in days}
    con = session(lake, catalog)
    try:
        for _ in range(2):
            for label, day in days.items():
                started = time.perf_counter()
                models.run_model(lake, "billing_daily", day, day, con=con, catalog=catalog)
                best[label] = min(best[label], time.perf_counter() - started)
    finally:
        con.close()
    return {"first_s": best["first"], "last_s": best["last"]}


def lake_scan(con, model, day: str) -> dict:
    """The widest scan of the lake in the model's plan for `day` (the one reading the most
    columns: the window of records) and whether a lower bound on dt reached it."""
    rows = con.sql("EXPLAIN (FORMAT json) " + model.body, params=model.bind(day, day)).fetchall()
    scans: list[dict] = []

    def walk(node: dict) -> None:
        info = node.get("extra_info", {})
        if "SCAN" in node.get("name", "") and isinstance(info.get("Projections"), list) \
                and ("ARROW" in node["name"] or "PARQUET" in node["name"]):
            scans.append(info)
        for child in node.get("children", []):
            walk(child)

    for plan in json.loads(rows[0][1]):
        walk(plan)
    if not scans:
        return {"filters": "(no scan of the lake)", "lower_bound": None}
    widest = max(scans, key=lambda info: len(info["Projections"]))
    filters = widest.get("Filters", "")
    filters = " AND ".join(filters) if isinstance(filters, list) else filters
    lower = bool(re.search(r'"?\bdt\b"?\s*(>=|>|=)\s*\'', filters) or "BETWEEN" in filters)
    return {"filters": filters or "(none)", "lower_bound": lower}


def step_security(lake_dir: str, day_text: str) -> dict:
    """security_detections for the day: the catalog's SQL against the baseline SQL (a copy
    of the SQL folder with benchmarks/baseline_sql's file swapped in, and the findings that
    read it left out), in one process on the same lake, alternating, best of 2."""
    from pipelines.lake.store import Lake
    from pipelines.sql import models
    from pipelines.sql.catalog import Kind, load, sql_root
    from pipelines.sql.session import session

    lake, day = Lake(lake_dir), date.fromisoformat(day_text)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sql"
        with resources.as_file(sql_root()) as root:
            shutil.copytree(root, folder, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copyfile(BASELINE_SQL, folder / "security" / "security_detections.sql")
        for sql in folder.rglob("*.sql"):  # what reads the findings expects today's columns
            if sql.stem != "security_detections" and "security_findings" in sql.read_text():
                sql.unlink()
        catalogs = {"new": load(), "baseline": load(folder)}
        cons = {}
        try:
            for label, catalog in catalogs.items():
                try:  # the baseline as it ran when issue 17 was filed: no memory limit
                    cons[label] = session(lake, catalog, **(
                        {"memory_limit": BASELINE_MEMORY} if label == "baseline" else {}))
                except Exception as e:  # the baseline may not fit a changed catalog
                    return {"error": f"{label} SQL: {type(e).__name__}: {e}"}
            plans = {label: lake_scan(cons[label], catalogs[label]["security_detections"],
                                      day_text) for label in catalogs}
            best = {label: float("inf") for label in catalogs}
            rows = {}
            for _ in range(2):
                for label, catalog in catalogs.items():
                    started = time.perf_counter()
                    table = models.query(cons[label], "security_detections", day, day,
                                         catalog=catalog)
                    best[label] = min(best[label], time.perf_counter() - started)
                    rows[label] = table.num_rows
                    del table
        finally:
            for con in cons.values():
                con.close()
    new = catalogs["new"]
    return {"new_s": best["new"], "baseline_s": best["baseline"], "rows": rows,
            "plans": plans, "new_reads": new.reads(new["security_detections"], Kind.MODEL)}


STEPS = {"ingest": step_ingest, "history": step_history, "day": step_day,
         "billing": step_billing, "security": step_security}


# ---------------------------------------------------------------------------------------
# The driver.

def _env_scales() -> list[float]:
    return [float(s) for s in os.environ.get("S3LOGS_BENCH_SCALES", "1,4,16,64").split(",")
            if s.strip()]


def _label(scale: float) -> str:
    return f"{scale:g}"


def _step(name: str, *args: str) -> dict:
    """A step in a fresh process; on failure, show what it printed and stop."""
    started = time.perf_counter()
    try:
        result = run_isolated("benchmarks.scale_bench", name, *args)
    except subprocess.CalledProcessError as e:
        print(f"step {name} failed:\n{(e.stderr or '')[-4000:]}", file=sys.stderr)
        raise
    print(f"    {name}: {time.perf_counter() - started:,.1f} s", flush=True)
    return result


def generate(root: Path, scale: float, start: date, days: int, seed: int) -> dict:
    """The cached logs of (scale, start, days, seed): generated once, in a fresh process,
    into a temporary folder renamed when complete. Returns its folder, size and the
    delivery days its objects are filed under."""
    folder = root / f"scale{_label(scale)}-from{start}-days{days}-seed{seed}"
    meta = folder / "cache.json"
    if not meta.exists():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        print(f"  generating {days} days at scale {_label(scale)} into {folder} ...",
              flush=True)
        started = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "s3logs"), "synth", str(partial),
                        "--start", str(start), "--days", str(days), "--scale", str(scale),
                        "--seed", str(seed)], check=True, stdout=subprocess.DEVNULL)
        size, delivery, objects = 0, set(), 0
        with os.scandir(partial / "logs") as entries:
            for entry in entries:
                size += entry.stat().st_size
                delivery.add(entry.name[:10])
                objects += 1
        (partial / "cache.json").write_text(json.dumps({
            "bytes": size, "objects": objects, "delivery_days": sorted(delivery),
            "generate_s": time.perf_counter() - started}))
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    info = json.loads(meta.read_text())
    info["source"] = str(folder / "logs") + "/"
    return info


def build(lake: Path, logs: dict, day: date, first: date) -> dict:
    """A lake of the logs delivered from `first` on, its history's models computed, and
    the day's models timed. Returns the steps' figures."""
    shutil.rmtree(lake, ignore_errors=True)
    delivery = [d for d in logs["delivery_days"] if d >= str(first)]
    ing = _step("ingest", logs["source"], str(lake), json.dumps(delivery))
    # every day the lake has records for before the measured one: none is left for the
    # runner to compute while the day is timed
    history = [d for d in ing["per_day"] if d < str(day)]
    hist = _step("history", str(lake), json.dumps(history))
    models = _step("day", str(lake), str(day))
    return {"ingest": ing, "history": hist, "day": models,
            "day_rows": ing["per_day"].get(str(day), 0),
            "history_rows": sum(ing["per_day"][d] for d in history), "history_days": history}


HISTORY_ROUNDS = 3  # the history ratio's two day runs: a second apart, noise decides


def best_days(lakes: list[tuple[Path, dict]], day: date) -> list[dict]:
    """The day's models on each lake again, one lake after the other, until each ran
    HISTORY_ROUNDS times: each lake's fastest run (a ratio of single runs of a few
    seconds measures the machine's noise as much as the history's length)."""
    best = [first for _, first in lakes]
    for _ in range(HISTORY_ROUNDS - 1):
        for i, (lake, _) in enumerate(lakes):
            run = _step("day", str(lake), str(day))
            if run["models_s"] < best[i]["models_s"]:
                best[i] = run
    return best


def main() -> dict:
    scales = _env_scales()
    history_days = int(os.environ.get("S3LOGS_BENCH_HISTORY_DAYS", "28"))
    short = int(os.environ.get("S3LOGS_BENCH_SHORT_HISTORY", "7"))
    day = date.fromisoformat(os.environ.get("S3LOGS_BENCH_DAY", "2027-02-28"))
    seed = int(os.environ.get("S3LOGS_BENCH_SEED", "11"))
    compare = float(os.environ.get("S3LOGS_BENCH_COMPARE_SCALE", "16"))
    if compare not in scales:
        compare = max(scales)
    start = day - timedelta(days=history_days)
    month_first = day.replace(day=1)
    root = BENCH_DIR / "scale"
    print(f"Scale benchmark: scales {', '.join(map(_label, scales))}; {history_days} days of "
          f"history ({start}..{day - timedelta(days=1)}) before the measured day {day}; "
          f"ratios at scale {_label(compare)}", flush=True)
    results: dict[float, dict] = {}
    extra: dict[str, dict] = {}
    for scale in scales:
        print(f"scale {_label(scale)}:", flush=True)
        logs = generate(root / "logs", scale, start, history_days + 1, seed)
        lake = root / f"lake-{_label(scale)}"
        short_lake = root / f"lake-{_label(scale)}-short"
        try:
            results[scale] = build(lake, logs, day, start) | {"logs": logs}
            if scale == compare:
                if start <= month_first < day:
                    extra["billing"] = _step("billing", str(lake), str(month_first), str(day))
                extra["security"] = _step("security", str(lake), str(day))
                print(f"  the same logs from {day - timedelta(days=short)} on "
                      f"({short} days of history):", flush=True)
                extra["short"] = build(short_lake, logs, day, day - timedelta(days=short))
                print(f"  the day on both lakes, alternating, best of {HISTORY_ROUNDS}:",
                      flush=True)
                results[scale]["day"], extra["short"]["day"] = best_days(
                    [(lake, results[scale]["day"]), (short_lake, extra["short"]["day"])],
                    day)
        finally:
            shutil.rmtree(lake, ignore_errors=True)
            shutil.rmtree(short_lake, ignore_errors=True)
    report(results, extra, scales, compare, day, month_first, history_days, short)
    return {"scales": results, **extra}


def report(results: dict, extra: dict, scales: list[float], compare: float, day: date,
           month_first: date, history_days: int, short: int) -> None:
    cores = os.cpu_count() or 1
    rows = []
    for scale in scales:
        r = results[scale]
        ing, day_run = r["ingest"], r["day"]
        rows.append({
            "scale": _label(scale), "day_rows": r["day_rows"], "history_rows": r["history_rows"],
            "raw_mb": ing["bytes"] / 1e6, "ingest_s": ing["seconds"],
            "ingest_mb_s": ing["bytes"] / 1e6 / ing["seconds"],
            "ingest_rss": ing["peak_rss_mib"],
            "history_s_day": r["history"]["seconds"] / max(1, r["history"]["days"]),
            "models_s": day_run["models_s"],
            "models_rows_s": r["day_rows"] / day_run["models_s"],
            "models_rss": day_run["peak_rss_mib"]})
    print_table(f"Scale: the measured day {day} after {history_days} days of history "
                "(each step in its own process)", rows,
                [("scale", "scale"), ("day_rows", "day rows"),
                 ("history_rows", "history rows"), ("raw_mb", "raw MB"),
                 ("ingest_s", "ingest s"), ("ingest_mb_s", "ingest MB/s"),
                 ("ingest_rss", "ingest peak MiB"), ("history_s_day", "history s/day"),
                 ("models_s", "day models s"), ("models_rows_s", "day rows/s"),
                 ("models_rss", "models peak MiB")])
    names = list(results[scales[0]]["day"]["models"])
    per_model = [{"model": n, **{_label(s): results[s]["day"]["models"].get(n)
                                 for s in scales}} for n in names]
    print_table(f"Seconds per model on {day} (run_model, catalog order, one session)",
                per_model, [("model", "model")] + [(_label(s), f"scale {_label(s)}")
                                                   for s in scales])
    found = {s: results[s]["day"]["rows_out"].get("security_detections", 0) for s in scales}
    print("findings on the measured day, no incident planted (security_detections rows): "
          + ", ".join(f"scale {_label(s)}: {n:,}" for s, n in found.items()))
    filled = {f"scale {_label(s)}": {n: k for n, k in results[s]["day"]["filled"].items() if k}
              for s in scales}
    if any(filled.values()):
        print(f"warning: the runner computed earlier days while the day was timed: {filled}")

    checks = []
    ordered = sorted(scales)
    # 1. the day's models, the largest scale over the next one (64 / 16: at most 4.5x)
    if len(ordered) >= 2:
        hi, lo = ordered[-1], ordered[-2]
        ratio = results[hi]["day"]["models_s"] / results[lo]["day"]["models_s"]
        checks.append(_check(f"1. day's models, scale {_label(hi)} / scale {_label(lo)} "
                             f"({hi / lo:g}x the traffic)", ratio, "x", "<=",
                             LIMITS["scale_ratio"] * (hi / lo) / 4))
    # 2. the history's length
    if "short" in extra:
        ratio = results[compare]["day"]["models_s"] / extra["short"]["day"]["models_s"]
        checks.append(_check(f"2. day's models at scale {_label(compare)}, {history_days} / "
                             f"{short} days of history", ratio, "x", "<=",
                             LIMITS["history_ratio"]))
    # 3. security_detections against the SQL of the issue
    sec = extra.get("security")
    if sec and "error" not in sec:
        checks.append(_check(f"3. security_detections at scale {_label(compare)}, faster "
                             f"than the baseline SQL ({sec['baseline_s']:.2f} s / "
                             f"{sec['new_s']:.2f} s)", sec["baseline_s"] / sec["new_s"], "x",
                             ">=", LIMITS["security_speedup"]))
    elif sec:
        checks.append({"check": "3. security_detections, faster than the baseline SQL",
                       "value": "error", "limit": f">= {LIMITS['security_speedup']:.2f}x",
                       "verdict": "FAIL"})
    # 4. the day's models' memory at the largest scale
    big = ordered[-1]
    checks.append(_check(f"4. day's models peak RSS at scale {_label(big)} (MiB)",
                         results[big]["day"]["peak_rss_mib"], "", "<",
                         LIMITS["models_rss_mib"], fmt=",.0f"))
    # 5. ingest rate (within 15% of scale 4's: no slower than 0.85x) and memory
    ref = 4.0 if 4.0 in scales else ordered[0]
    if big != ref:
        rate = {s: results[s]["ingest"]["bytes"] / results[s]["ingest"]["seconds"]
                for s in (big, ref)}
        checks.append(_check(f"5a. ingest MB/s, scale {_label(big)} / scale {_label(ref)}",
                             rate[big] / rate[ref], "x", ">=", LIMITS["ingest_rate_ratio"]))
    worst = max(scales, key=lambda s: results[s]["ingest"]["peak_rss_mib"])
    checks.append(_check(f"5b. ingest peak RSS, every scale (most: scale {_label(worst)}) "
                         "(MiB)", results[worst]["ingest"]["peak_rss_mib"], "", "<",
                         LIMITS["ingest_rss_mib"], fmt=",.0f"))
    # 6. billing_daily at the month's end against its 1st
    bill = extra.get("billing")
    if bill:
        checks.append(_check(f"6. billing_daily at scale {_label(compare)}, {day} / "
                             f"{month_first} ({bill['last_s']:.2f} s / {bill['first_s']:.2f} s)",
                             bill["last_s"] / bill["first_s"], "x", "<=",
                             LIMITS["billing_ratio"]))
    print_table("Issue 17's limits (reported, not enforced)", checks,
                [("check", "check"), ("value", "value"), ("limit", "limit"),
                 ("verdict", "")])
    if sec and "error" not in sec:
        for label in ("new", "baseline"):
            plan = sec["plans"][label]
            print(f"security_detections {label}: {sec['rows'][label]:,} findings; its widest "
                  f"lake scan filters {plan['filters']} (lower bound on dt "
                  f"{'pushed' if plan['lower_bound'] else 'NOT pushed'})")
        reads = sec["new_reads"]
        if reads:
            before = sum(results[compare]["day"]["models"].get(n, 0) for n in reads)
            print(f"security_detections new, with the day of the models it reads "
                  f"({', '.join(reads)}, from the day's run): {sec['new_s'] + before:.2f} s, "
                  f"{sec['baseline_s'] / (sec['new_s'] + before):.1f}x faster than the baseline")
    elif sec:
        print(f"security_detections baseline not timed: {sec['error']}")
    if "short" in extra:
        s = extra["short"]
        first = day - timedelta(days=short)
        partial = [d for d in s["history_days"] if d < str(first)]
        print(f"the {short}-day lake (logs delivered from {first} on): {s['history_rows']:,} "
              f"rows before {day}" + (f", {sum(s['ingest']['per_day'][d] for d in partial):,}"
                                      f" of them on {', '.join(partial)}, delivered late"
                                      if partial else ""))

    r = results[big]
    ingest_rate = r["ingest"]["rows"] / r["ingest"]["cpu_s"]
    models_rate = r["day_rows"] / r["day"]["cpu_s"]
    ingest_h, models_h = 1e9 / ingest_rate / 3600, 1e9 / models_rate / 3600
    wall_h = (1e9 / (r["ingest"]["rows"] / r["ingest"]["seconds"])
              + 1e9 / (r["day_rows"] / r["day"]["models_s"])) * cores / 3600
    print(f"\nPROJECTION (not measured): a day of 1 billion requests needs about "
          f"{ingest_h + models_h:,.1f} core-hours = ingest {ingest_h:,.1f} "
          f"({ingest_rate:,.0f} rows per CPU-second) + the day's models {models_h:,.1f} "
          f"({models_rate:,.0f} rows per CPU-second), from CPU time at scale {_label(big)} "
          f"({r['day_rows']:,} rows that day), if per-row costs stay flat "
          f"(wall-clock x {cores} cores: {wall_h:,.1f})")


def _check(name: str, value: float, unit: str, op: str, limit: float,
           fmt: str = ".2f") -> dict:
    passed = {"<=": value <= limit, "<": value < limit, ">=": value >= limit}[op]
    return {"check": name, "value": f"{value:{fmt}}{unit}", "limit": f"{op} {limit:{fmt}}{unit}",
            "verdict": "PASS" if passed else "FAIL"}


if __name__ == "__main__":
    if len(sys.argv) > 1:
        from pipelines.memory import bound_allocator

        bound_allocator()  # each step runs as `s3logs` would run it
        print(json.dumps(STEPS[sys.argv[1]](*sys.argv[2:])))
    else:
        main()
