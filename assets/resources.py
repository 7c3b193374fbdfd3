"""Dagster resources: thin, configurable handles on the engine's sources, lake, warehouse,
policy, report and alerts. Every setting a deployment sets is a field here, shown in the
UI; `default_resources` fills them from the environment once, when the code location loads
(pipelines.config), and the assets pass them down to the engine as parameters."""


import dagster as dg

from pipelines.config import settings
from pipelines.ingestion.sources import LogSource
from pipelines.lake.store import Lake
from pipelines.memory import bound_allocator
from pipelines.security.policy import PolicyFiles
from pipelines.sql.session import MEMORY_LIMIT


class S3Settings(dg.ConfigurableResource):
    """How to reach S3: an endpoint for S3-compatible stores (credentials and region come
    from the standard AWS variables or profile)."""

    endpoint_url: str | None = None


class LogSourcesResource(dg.ConfigurableResource):
    """The log sources: S3 prefixes where access logs are delivered, or local folders; and
    how many days before yesterday the daily run checks again for late deliveries."""

    urls: list[str]
    layout: str = "auto"
    s3: S3Settings
    late_days: int = 3

    def sources(self) -> list[LogSource]:
        return [LogSource(u, layout=self.layout, endpoint=self.s3.endpoint_url)
                for u in self.urls]


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake root: a local folder or an s3:// URL; what a SQL model's DuckDB
    session may hold in memory before it spills to disk; and into how many steps, at
    most, an ingestion run's partition rebuilds are spread (raise it with the executor's
    concurrency: each step rebuilds its folders within a bounded memory of its own)."""

    url: str
    s3: S3Settings
    memory_limit: str = MEMORY_LIMIT
    rebuild_steps: int = 8
    retention_days: int = 0  # lake partitions older than this are deleted (0: keep all)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        bound_allocator()  # each step's process, as `s3logs` does (pipelines.memory)

    def lake(self) -> Lake:
        return Lake(self.url, endpoint=self.s3.endpoint_url)


class WarehouseResource(dg.ConfigurableResource):
    """The analyst DuckDB file of documented views over the lake."""

    path: str


class SecurityResource(dg.ConfigurableResource):
    """What the security models check requests against: the access policy file and a
    threat list (CSV of addresses or CIDRs), each optional."""

    policies: str | None = None
    threat_list: str | None = None

    def files(self) -> PolicyFiles:
        return PolicyFiles(self.policies, self.threat_list)


class ReportResource(dg.ConfigurableResource):
    """Where the daily HTML report is written, and how many days it covers."""

    path: str = "data/report.html"
    days: int = 14


class AlertsResource(dg.ConfigurableResource):
    """Where new findings are posted (a Slack-compatible webhook; none: counted, not sent),
    from which severity, and how old a finding may be and still page someone."""

    webhook: str | None = None
    min_severity: str = "medium"
    max_age_days: int = 3


def default_resources() -> dict:
    cfg = settings()
    s3 = S3Settings(endpoint_url=cfg.endpoint_url)
    return {
        "s3": s3,
        "log_sources": LogSourcesResource(urls=list(cfg.sources), layout=cfg.layout, s3=s3,
                                          late_days=cfg.late_days),
        "lake": LakeResource(url=cfg.lake, s3=s3, retention_days=cfg.lake_retention_days),
        "warehouse": WarehouseResource(path=cfg.warehouse),
        "security": SecurityResource(policies=cfg.policies, threat_list=cfg.threat_list),
        "reporting": ReportResource(path=cfg.report, days=cfg.report_days),
        "alerting": AlertsResource(webhook=cfg.alert_webhook, min_severity=cfg.alert_severity,
                                 max_age_days=cfg.alert_max_age_days),
    }
