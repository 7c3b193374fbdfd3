"""Settings from the environment, with working local defaults and one-sentence errors.
Read at the edge only (the command line, the Dagster code location's resources); the
engine takes each setting as a parameter.

S3LOGS_SOURCES     comma-separated log source URLs (s3://bucket/prefix/ or folders)
S3LOGS_LAKE        lake root, a folder or s3:// URL              (default data/lake)
S3LOGS_WAREHOUSE   analyst DuckDB file                            (default data/warehouse.duckdb)
S3LOGS_START_DATE  first daily partition, YYYY-MM-DD              (default 2026-11-01)
S3LOGS_LATE_DAYS   trailing days the daily run re-checks          (default 3)
S3LOGS_LAYOUT      auto | simple | partitioned                    (default auto)
S3LOGS_REPORT      the HTML report the daily run writes           (default data/report.html)
S3LOGS_REPORT_DAYS days the daily report covers                   (default 14)
S3LOGS_LAKE_RETENTION_DAYS  lake partitions older than this are deleted by the daily
                   run (default 0: keep everything)
S3LOGS_SQL_DIR     a folder of a team's SQL models, added to the package's
S3LOGS_POLICIES    the access policy YAML file (pipelines.security.policy)  (default: none)
S3LOGS_THREAT_LIST a CSV of addresses or CIDRs to flag, e.g. Tor exit nodes (default: none)
S3LOGS_ALERT_WEBHOOK  where new findings are posted (Slack-compatible JSON; default: none)
S3LOGS_ALERT_SEVERITY lowest severity alerted: low, medium or high (default medium)
S3LOGS_ALERT_MAX_AGE_DAYS  findings older than this many days before today are not alerted
                   (default 3: a backfill of history pages nobody)
S3LOGS_EXECUTOR    how the Dagster code location runs a run's steps: multiprocess (processes
                   of one machine, the default), celery (Celery workers you run) or k8s (a
                   Kubernetes job per step); celery and k8s need their package installed
S3LOGS_EXECUTOR_CONFIG  a YAML file of that executor's settings, its run config block
                   `execution: config:` (deploy/celery/executor.yaml, the file the Celery
                   workers start with; deploy/k8s-executor.yaml); required for celery
AWS_ENDPOINT_URL_S3 and the usual AWS credential variables reach s3fs and boto3 directly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

DEMO_SOURCE = "data/demo/logs/logs/"
EXECUTORS = ("multiprocess", "celery", "k8s")


class ConfigError(ValueError):
    """A setting has a value that cannot work; the message says which and what to do."""


@dataclass(frozen=True)
class Settings:
    sources: tuple[str, ...]
    lake: str
    warehouse: str
    start_date: date
    late_days: int
    layout: str
    endpoint_url: str | None
    report: str = "data/report.html"
    report_days: int = 14
    lake_retention_days: int = 0
    sql_dir: str | None = None
    policies: str | None = None
    threat_list: str | None = None
    alert_webhook: str | None = None
    alert_severity: str = "medium"
    alert_max_age_days: int = 3
    executor: str = "multiprocess"
    executor_config: str | None = None


def parse_size(text: str) -> int:
    """`200MiB`, `1GiB`, `64k` or a number of bytes."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    try:
        return int(float(t[:-1]) * units[t[-1]]) if t[-1] in units else int(t)
    except (ValueError, IndexError) as e:
        raise ConfigError(f"size {text!r} is not a size such as 200MiB or 1GiB") from e


def settings(env: dict[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    sources = tuple(s.strip() for s in env.get("S3LOGS_SOURCES", DEMO_SOURCE).split(",")
                    if s.strip())
    if not sources:
        raise ConfigError("S3LOGS_SOURCES is empty: set it to one or more log source URLs, "
                          "comma-separated (s3://bucket/prefix/ or a folder)")
    for s in sources:
        if "://" in s and not s.startswith(("s3://", "file://")):
            raise ConfigError(f"S3LOGS_SOURCES has {s!r}: use s3://bucket/prefix/ or a folder")
    raw_start = env.get("S3LOGS_START_DATE", "2026-11-01")
    try:
        start = date.fromisoformat(raw_start)
    except ValueError:
        raise ConfigError(f"S3LOGS_START_DATE={raw_start!r} is not a date: use YYYY-MM-DD") \
            from None
    raw_late = env.get("S3LOGS_LATE_DAYS", "3")
    if not raw_late.isdigit() or int(raw_late) > 60:
        raise ConfigError(f"S3LOGS_LATE_DAYS={raw_late!r}: use a whole number of days, 0-60")
    layout = env.get("S3LOGS_LAYOUT", "auto")
    if layout not in ("auto", "simple", "partitioned"):
        raise ConfigError(f"S3LOGS_LAYOUT={layout!r}: use auto, simple or partitioned")
    raw_report_days = env.get("S3LOGS_REPORT_DAYS", "14")
    if not raw_report_days.isdigit() or not 1 <= int(raw_report_days) <= 366:
        raise ConfigError(f"S3LOGS_REPORT_DAYS={raw_report_days!r}: use a number of days, "
                          "1-366")
    raw_keep = env.get("S3LOGS_LAKE_RETENTION_DAYS", "0")
    if not raw_keep.isdigit():
        raise ConfigError(f"S3LOGS_LAKE_RETENTION_DAYS={raw_keep!r}: use a number of days "
                          "(0 keeps everything)")
    alert_severity = env.get("S3LOGS_ALERT_SEVERITY", "medium")
    if alert_severity not in ("info", "low", "medium", "high"):
        raise ConfigError(f"S3LOGS_ALERT_SEVERITY={alert_severity!r}: use info, low, medium "
                          "or high")
    raw_age = env.get("S3LOGS_ALERT_MAX_AGE_DAYS", "3")
    if not raw_age.isdigit():
        raise ConfigError(f"S3LOGS_ALERT_MAX_AGE_DAYS={raw_age!r}: use a number of days")
    webhook = env.get("S3LOGS_ALERT_WEBHOOK") or None
    if webhook and not webhook.startswith(("https://", "http://")):
        raise ConfigError("S3LOGS_ALERT_WEBHOOK must be an http(s) URL")
    executor = env.get("S3LOGS_EXECUTOR") or "multiprocess"
    if executor not in EXECUTORS:
        raise ConfigError(f"S3LOGS_EXECUTOR={executor!r}: use " + ", ".join(EXECUTORS))
    executor_config = env.get("S3LOGS_EXECUTOR_CONFIG") or None
    if executor == "celery" and not executor_config:
        raise ConfigError("S3LOGS_EXECUTOR=celery needs S3LOGS_EXECUTOR_CONFIG: the executor's "
                          "YAML (broker, backend), the file its workers start with "
                          "(deploy/celery/executor.yaml)")
    if executor_config and executor == "multiprocess":
        raise ConfigError("S3LOGS_EXECUTOR_CONFIG is set but S3LOGS_EXECUTOR is not: set "
                          "S3LOGS_EXECUTOR=celery or k8s, or unset the config file")
    return Settings(sources=sources, policies=env.get("S3LOGS_POLICIES") or None,
                    threat_list=env.get("S3LOGS_THREAT_LIST") or None,
                    alert_webhook=webhook, alert_severity=alert_severity,
                    alert_max_age_days=int(raw_age),
                    lake=env.get("S3LOGS_LAKE", "data/lake"),
                    lake_retention_days=int(raw_keep),
                    report=env.get("S3LOGS_REPORT", "data/report.html"),
                    report_days=int(raw_report_days),
                    warehouse=env.get("S3LOGS_WAREHOUSE", "data/warehouse.duckdb"),
                    start_date=start, late_days=int(raw_late), layout=layout,
                    sql_dir=env.get("S3LOGS_SQL_DIR") or None,
                    executor=executor, executor_config=executor_config,
                    endpoint_url=env.get("AWS_ENDPOINT_URL_S3") or None)
