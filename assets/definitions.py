"""The Dagster code location `s3_access_logs` (loaded by workspace.yaml)."""

import dagster as dg

from assets.alerts import security_alerts
from assets.automation import daily_job, daily_schedule, new_log_objects
from assets.ingest import access_logs, log_objects
from assets.models import model_assets
from assets.report import activity_report
from assets.resources import default_resources
from assets.warehouse import analyst_warehouse

# Steps (each source's day of ingestion, each model) run in processes of their own, forked
# from a server that has imported this code location once, so a step starts in a fraction
# of a second instead of importing Dagster, Arrow and DuckDB again.
EXECUTOR = dg.multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": [
        "assets.definitions", "dagster._core.storage.runs", "dagster._core.storage.event_log",
        "dagster._core.storage.schedules"]}}})

defs = dg.Definitions(
    assets=[log_objects, access_logs, *model_assets, analyst_warehouse, activity_report,
            security_alerts],
    jobs=[daily_job],
    schedules=[daily_schedule],
    sensors=[new_log_objects],
    resources=default_resources(),
    executor=EXECUTOR,
)
