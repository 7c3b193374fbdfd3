"""The Dagster code location `s3_access_logs` (loaded by workspace.yaml)."""

from pathlib import Path

import dagster as dg
import yaml

from assets.alerts import security_alerts
from assets.automation import daily_job, daily_schedule, new_log_objects
from assets.ingest import access_logs, log_objects
from assets.models import model_assets
from assets.report import activity_report
from assets.resources import default_resources
from assets.warehouse import analyst_warehouse
from pipelines.config import ConfigError, Settings, settings

# Steps (each source's day of ingestion, each model) run in processes of their own, forked
# from a server that has imported this code location once, so a step starts in a fraction
# of a second instead of importing Dagster, Arrow and DuckDB again.
MULTIPROCESS = dg.multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": [
        "assets.definitions", "dagster._core.storage.runs", "dagster._core.storage.event_log",
        "dagster._core.storage.schedules"]}}})
EXTRAS = {"celery": "dagster-celery (pip install 's3logs[distributed]')",
          "k8s": "dagster-k8s (pip install dagster-k8s==0.29.27, as deploy/Dockerfile does)"}


def executor_config(path: str) -> dict:
    """The `execution: config:` block of a run config YAML file: what the executor gets,
    and what `dagster-celery worker start -y FILE` reads for its workers."""
    try:
        document = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"S3LOGS_EXECUTOR_CONFIG={path!r} cannot be read: {e}") from None
    config = (document.get("execution") or {}).get("config") if isinstance(document, dict) \
        else None
    if not isinstance(config, dict):
        raise ConfigError(f"S3LOGS_EXECUTOR_CONFIG={path!r} has no `execution: config:` "
                          "block: write the executor's settings under it")
    return config


def executor(cfg: Settings) -> dg.ExecutorDefinition:
    """The executor S3LOGS_EXECUTOR names, configured from S3LOGS_EXECUTOR_CONFIG. The
    distributed ones are imported only when chosen, so this location loads without them."""
    if cfg.executor == "multiprocess":
        return MULTIPROCESS
    config = executor_config(cfg.executor_config) if cfg.executor_config else None
    try:
        if cfg.executor == "celery":
            from dagster_celery import celery_executor as chosen
        else:
            from dagster_k8s import k8s_job_executor as chosen
    except ImportError as e:
        raise ConfigError(f"S3LOGS_EXECUTOR={cfg.executor} needs {EXTRAS[cfg.executor]}: "
                          f"{e}") from None
    return chosen.configured(config) if config is not None else chosen


defs = dg.Definitions(
    assets=[log_objects, access_logs, *model_assets, analyst_warehouse, activity_report,
            security_alerts],
    jobs=[daily_job],
    schedules=[daily_schedule],
    sensors=[new_log_objects],
    resources=default_resources(),
    executor=executor(settings()),
)
