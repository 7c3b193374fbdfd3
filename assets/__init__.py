"""The Dagster code location: thin assets that call into `pipelines`."""
