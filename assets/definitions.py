"""The Dagster code location `s3_access_logs` (loaded by workspace.yaml)."""

import dagster as dg

from assets.automation import daily_job, daily_schedule, new_log_objects
from assets.ingest import access_logs, log_objects
from assets.models import model_assets
from assets.report import activity_report
from assets.resources import default_resources
from assets.warehouse import analyst_warehouse

defs = dg.Definitions(
    assets=[log_objects, access_logs, *model_assets, analyst_warehouse, activity_report],
    jobs=[daily_job],
    schedules=[daily_schedule],
    sensors=[new_log_objects],
    resources=default_resources(),
)
