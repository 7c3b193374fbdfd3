"""The engine: log format, parser, lake writer, warehouse runner and CLI (no Dagster here)."""
