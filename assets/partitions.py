"""One daily (UTC) partitioning for every asset: a partition is a day of log objects."""

import dagster as dg

from pipelines.config import settings

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"

# end_offset=1: today is a partition too, since logs for it arrive all day (the sensor).
DAILY = dg.DailyPartitionsDefinition(start_date=settings().start_date.isoformat(),
                                     timezone="UTC", end_offset=1)
# A range of days is one run (the CLI's --partition-range needs it). Within it, ingestion
# fans out into one step per source and day (assets/ingest.py), and runs of overlapping
# days may go at once: they are safe together by construction (pipelines.ingestion.units).
SINGLE_RUN = dg.BackfillPolicy.single_run()


def range_tags(start: str, end: str) -> dict[str, str]:
    """Run tags that make one run cover the partitions start..end."""
    return {RANGE_START: start, RANGE_END: end}
