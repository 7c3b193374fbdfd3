"""The alerts asset: new security findings posted to the webhook, each finding once."""

from datetime import UTC, date, datetime

import dagster as dg

from assets.models import model_assets
from assets.partitions import DAILY, SINGLE_RUN
from assets.resources import AlertsResource, LakeResource
from pipelines.security import alerts

FINDINGS = next(a for a in model_assets if a.key.path[-1] == "security_findings")


@dg.asset(deps=[FINDINGS], partitions_def=DAILY, backfill_policy=SINGLE_RUN,
          group_name="security", kinds={"webhook"})
def security_alerts(context: dg.AssetExecutionContext, lake: LakeResource,
                    alerting: AlertsResource) -> dg.MaterializeResult:
    """Findings at or above the alerts resource's min_severity, not suppressed, from its
    last max_age_days days, posted to its webhook: one message per bucket and detection,
    never the same finding twice (state in the lake, `_alerts/`). A backfill of history
    pages nobody."""
    cfg = alerting
    keys = context.partition_key_range
    today = datetime.now(UTC).date()
    run = alerts.alert(lake.lake(), date.fromisoformat(keys.start), date.fromisoformat(keys.end),
                       today, webhook=cfg.webhook, min_severity=cfg.min_severity,
                       max_age_days=cfg.max_age_days)
    if cfg.webhook is None:
        context.log.info(f"{run.candidates} findings to alert; no webhook is set "
                         "(S3LOGS_ALERT_WEBHOOK, or the alerts resource's webhook)")
    else:
        alerts.check(run, cfg.webhook)
    return dg.MaterializeResult(metadata={
        "findings_to_alert": run.candidates, "sent": run.sent, "messages": run.messages,
        "sent_before": run.already_sent, "webhook_set": cfg.webhook is not None})
