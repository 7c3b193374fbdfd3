"""The alerts asset: new security findings posted to the webhook, each finding once."""

from datetime import UTC, date, datetime

import dagster as dg

from assets.models import model_assets
from assets.partitions import DAILY, SINGLE_RUN
from assets.resources import LakeResource
from pipelines import alerts
from pipelines.config import settings

FINDINGS = next(a for a in model_assets if a.key.path[-1] == "security_findings")


@dg.asset(deps=[FINDINGS], partitions_def=DAILY, backfill_policy=SINGLE_RUN,
          group_name="security", kinds={"webhook"})
def security_alerts(context: dg.AssetExecutionContext, lake: LakeResource
                    ) -> dg.MaterializeResult:
    """Findings at or above S3LOGS_ALERT_SEVERITY, not suppressed, from the last
    S3LOGS_ALERT_MAX_AGE_DAYS days, posted to S3LOGS_ALERT_WEBHOOK: one message per bucket
    and detection, never the same finding twice (state in the lake, `_alerts/`). A backfill
    of history pages nobody."""
    cfg = settings()
    keys = context.partition_key_range
    today = datetime.now(UTC).date()
    run = alerts.alert(lake.lake(), date.fromisoformat(keys.start), date.fromisoformat(keys.end),
                       today, webhook=cfg.alert_webhook, min_severity=cfg.alert_severity,
                       max_age_days=cfg.alert_max_age_days)
    if cfg.alert_webhook is None:
        context.log.info(f"{run.candidates} findings to alert; S3LOGS_ALERT_WEBHOOK is not set")
    else:
        alerts.check(run, cfg.alert_webhook)
    return dg.MaterializeResult(metadata={
        "findings_to_alert": run.candidates, "sent": run.sent, "messages": run.messages,
        "sent_before": run.already_sent, "webhook_set": cfg.alert_webhook is not None})
