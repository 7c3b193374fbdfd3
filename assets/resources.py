"""Dagster resources: thin, configurable handles on the engine's sources, lake and warehouse.
Defaults come from the environment (pipelines.config); a deployment can override any field."""


import dagster as dg

from pipelines.config import settings
from pipelines.lake import Lake
from pipelines.memory import bound_allocator
from pipelines.session import MEMORY_LIMIT
from pipelines.sources import LogSource


class S3Settings(dg.ConfigurableResource):
    """How to reach S3: an endpoint for S3-compatible stores (credentials and region come
    from the standard AWS variables or profile)."""

    endpoint_url: str | None = None


class LogSourcesResource(dg.ConfigurableResource):
    """The log sources: S3 prefixes where access logs are delivered, or local folders."""

    urls: list[str]
    layout: str = "auto"
    s3: S3Settings

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

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        bound_allocator()  # each step's process, as `s3logs` does (pipelines.memory)

    def lake(self) -> Lake:
        return Lake(self.url, endpoint=self.s3.endpoint_url)


class WarehouseResource(dg.ConfigurableResource):
    """The analyst DuckDB file of documented views over the lake."""

    path: str


def default_resources() -> dict:
    cfg = settings()
    s3 = S3Settings(endpoint_url=cfg.endpoint_url)
    return {
        "s3": s3,
        "log_sources": LogSourcesResource(urls=list(cfg.sources), layout=cfg.layout, s3=s3),
        "lake": LakeResource(url=cfg.lake, s3=s3),
        "warehouse": WarehouseResource(path=cfg.warehouse),
    }
