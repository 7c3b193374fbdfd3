"""The daily HTML report asset: charts and top tables of the last days, one offline file."""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from assets.models import CATALOG, read_by
from assets.partitions import DAILY, SINGLE_RUN
from assets.resources import LakeResource, ReportResource, SecurityResource
from pipelines import report


@dg.asset(deps=read_by(*report.READS), partitions_def=DAILY, backfill_policy=SINGLE_RUN,
          group_name="report", kinds={"html"})
def activity_report(context: dg.AssetExecutionContext, lake: LakeResource,
                    reporting: ReportResource, security: SecurityResource
                    ) -> dg.MaterializeResult:
    """A self-contained HTML page (the report resource's path) with requests, errors,
    bytes, latency, estimated cost and security findings over its days up to the run's
    last day."""
    end = date.fromisoformat(context.partition_key_range.end)
    start = end - timedelta(days=reporting.days - 1)
    page = report.build(lake.lake(), start, end, security.files(), CATALOG)
    path = Path(reporting.path)
    report.write(page, path)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path)),
                                          "days": f"{start} to {end}",
                                          "bytes": len(page)})
