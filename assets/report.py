"""The daily HTML report asset: charts and top tables of the last days, one offline file."""

from datetime import date, timedelta
from pathlib import Path

import dagster as dg

from assets.models import model_assets
from assets.partitions import DAILY, SINGLE_RUN
from assets.resources import LakeResource
from pipelines import report
from pipelines.config import settings


@dg.asset(deps=model_assets, partitions_def=DAILY, backfill_policy=SINGLE_RUN,
          group_name="report", kinds={"html"})
def activity_report(context: dg.AssetExecutionContext, lake: LakeResource
                    ) -> dg.MaterializeResult:
    """A self-contained HTML page (S3LOGS_REPORT) with requests, errors, bytes, latency,
    estimated cost and security findings over the S3LOGS_REPORT_DAYS days up to the run's
    last day."""
    cfg = settings()
    end = date.fromisoformat(context.partition_key_range.end)
    start = end - timedelta(days=cfg.report_days - 1)
    page = report.build(lake.lake(), start, end)
    path = Path(cfg.report)
    report.write(page, path)
    return dg.MaterializeResult(metadata={"path": dg.MetadataValue.path(str(path)),
                                          "days": f"{start} to {end}",
                                          "bytes": len(page)})
