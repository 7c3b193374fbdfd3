"""Schedules and sensors: the daily run (yesterday plus the trailing late days, one run)
and a sensor that starts runs for days that received new log objects."""


import hashlib
import json
from datetime import timedelta

import dagster as dg

from assets.partitions import DAILY, range_tags
from assets.resources import LogSourcesResource

# Every asset, alerts included: a day is done when its findings have been posted.
daily_job = dg.define_asset_job(
    "daily_logs", selection=dg.AssetSelection.all(),
    description="Ingest log objects, rebuild what depends on them and post the new findings, "
                "for a range of days.")

SENSOR_MAX_PAGES = 2  # LIST pages per source root per tick: well inside the tick time limit


@dg.schedule(job=daily_job, cron_schedule="15 3 * * *", execution_timezone="UTC")
def daily_schedule(context: dg.ScheduleEvaluationContext, log_sources: LogSourcesResource
                   ) -> dg.RunRequest:
    """03:15 UTC: materialize yesterday and re-check the log sources' late_days days before
    it, in one ranged run (late deliveries land in those days' folders or partitions)."""
    yesterday = context.scheduled_execution_time.date() - timedelta(days=1)
    first = max(yesterday - timedelta(days=log_sources.late_days), DAILY.start.date())
    return dg.RunRequest(run_key=f"daily-{yesterday}",
                         tags=range_tags(first.isoformat(), yesterday.isoformat()))


@dg.sensor(job=daily_job, minimum_interval_seconds=300)
def new_log_objects(context: dg.SensorEvaluationContext, log_sources: LogSourcesResource):
    """Looks for log objects newer than its cursor (one key per listing root, ListObjectsV2
    StartAfter, a bounded number of pages per tick) and requests one run for the days they
    are filed under. The cursor carries whatever a tick did not reach to the next tick."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    start = DAILY.start.date()
    days, new_cursor = set(), {}
    for source in log_sources.sources():
        found, new_cursor[source.url] = source.new_objects(
            cursor.get(source.url, {}), since=start, max_pages=SENSOR_MAX_PAGES)
        days |= {day for day, _ in found}
    valid = set(DAILY.get_partition_keys(dynamic_partitions_store=None))
    days = sorted(d.isoformat() for d in days if d.isoformat() in valid)
    if not days:
        return dg.SensorResult(skip_reason="no new log objects", cursor=json.dumps(new_cursor))
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"new-objects-{days[0]}-{days[-1]}-" + hashlib.sha1(
            json.dumps(new_cursor, sort_keys=True).encode()).hexdigest()[:12],
            tags=range_tags(days[0], days[-1]))],
        cursor=json.dumps(new_cursor, sort_keys=True))
