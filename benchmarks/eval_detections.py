"""`make eval`: are the detections precise on realistic traffic, and do they find what
matters? Three weeks of an estate's benign traffic (pipelines.estate), then the same weeks
with each incident (pipelines.incidents) planted on a day of the third week.

Prints, per incident, whether a finding of one of its detections at medium or above named
its bucket that day; and per detection, the high and medium findings on the benign third
week (after two weeks of warm-up for the baselines), per million benign requests.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from pipelines import models
from pipelines.estate import EstateConfig, write_objects
from pipelines.incidents import INCIDENTS, Planted
from pipelines.ingest import ingest
from pipelines.lake import Lake
from pipelines.sources import LogSource

ROOT = Path(__file__).resolve().parents[1]
START = date(2026, 10, 26)     # a Monday
DAYS = 21
WARM_UP = 14
SECURITY = ["security_detections", "security_findings"]


@dataclass(frozen=True)
class Result:
    lake: Lake
    requests: int          # in the evaluated week
    findings: list[dict]   # of the evaluated week


def build(folder: Path, cfg: EstateConfig) -> Result:
    write_objects(cfg, folder / "logs")
    lake = Lake(str(folder / "lake"))
    days = [cfg.start + timedelta(days=i) for i in range(cfg.days + 1)]
    ingest([LogSource(str(folder / "logs" / "logs"), layout="simple")], lake, days,
           progress=False)
    models.run_models(lake, days[0], days[-1], SECURITY)
    first = (cfg.start + timedelta(days=WARM_UP)).isoformat()
    last = (cfg.start + timedelta(days=cfg.days - 1)).isoformat()
    con = duckdb.connect()
    con.register("logs", lake.dataset("access_logs"))
    con.register("found", lake.dataset("marts/security_findings"))
    requests = con.execute("SELECT count(*) FROM logs WHERE dt BETWEEN $a AND $b",
                           {"a": first, "b": last}).fetchall()[0][0]
    findings = con.sql("SELECT * FROM found WHERE dt BETWEEN $a AND $b",
                       params={"a": first, "b": last}).to_arrow_table().to_pylist()
    return Result(lake, requests, findings)


def plan(scale: float) -> tuple[EstateConfig, EstateConfig]:
    benign = EstateConfig(start=START, days=DAYS, scale=scale, seed=21)
    third_week = [START + timedelta(days=WARM_UP + i) for i in range(7)]
    planted = tuple(Planted(name, third_week[i % 7]) for i, name in enumerate(INCIDENTS))
    return benign, EstateConfig(start=START, days=DAYS, scale=scale, seed=21,
                                incidents=planted)


def _found(result: Result, p: Planted) -> tuple[bool, list[str]]:
    incident = INCIDENTS[p.incident]
    mine = [f for f in result.findings if f["dt"] == p.day.isoformat()
            and f["bucket"] == incident.bucket and f["detection"] in incident.detections]
    return (any(f["severity"] in ("medium", "high") for f in mine),
            sorted({f"{f['detection']} ({f['severity']})" for f in mine}))


def main(scale: float = 1.0) -> None:
    benign_cfg, planted_cfg = plan(scale)
    policies = {"S3LOGS_POLICIES": str(ROOT / "examples" / "policies.yaml"),
                "S3LOGS_THREAT_LIST": str(ROOT / "examples" / "threat_list.csv")}
    runs: dict[str, tuple[Result, Result]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="s3logs-eval-") as tmp:
        for mode in ("policy", "none"):
            for k, v in policies.items():
                if mode == "policy":
                    os.environ[k] = v
                else:
                    os.environ.pop(k, None)
            runs[mode] = (build(Path(tmp) / mode / "benign", benign_cfg),
                          build(Path(tmp) / mode / "planted", planted_cfg))
    seconds = time.perf_counter() - started
    print(f"\nDetection evaluation: {DAYS} days of estate traffic from {START} (scale "
          f"{scale}); 'policy': with examples/policies.yaml and examples/threat_list.csv, "
          f"'none': without either; {seconds:.0f} s")
    print(f"\n{'incident':<19} {'day':<11} {'bucket':<17} {'policy':<7} {'none':<7} "
          "detections that fired (with the policy file)")
    for p in planted_cfg.incidents:
        with_policy, fired = _found(runs["policy"][1], p)
        without, _ = _found(runs["none"][1], p)
        print(f"{p.incident:<19} {p.day!s:<11} {INCIDENTS[p.incident].bucket:<17} "
              f"{'found' if with_policy else 'MISSED':<7} {'found' if without else 'MISSED':<7} "
              f"{', '.join(fired) or '-'}")
    for mode, (benign, _) in runs.items():
        per_million = 1e6 / max(benign.requests, 1)
        print(f"\nBenign third week ({mode}), after a {WARM_UP}-day warm-up: "
              f"{benign.requests:,} requests")
        print(f"{'detection':<22} {'high':>6} {'medium':>7} {'high/M':>8} {'medium/M':>9} "
              f"{'low+info':>9}")
        rows = sorted({f["detection"] for f in benign.findings})
        for d in [*rows, "all"]:
            mine = [f for f in benign.findings if d in ("all", f["detection"])]
            high = sum(f["severity"] == "high" for f in mine)
            medium = sum(f["severity"] == "medium" for f in mine)
            print(f"{d:<22} {high:>6} {medium:>7} {high * per_million:>8.2f} "
                  f"{medium * per_million:>9.2f} {len(mine) - high - medium:>9}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
