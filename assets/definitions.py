"""The Dagster code location `s3_access_logs` (loaded by workspace.yaml).

The ingestion and model assets arrive with the lake and Dagster issues; until then the
location loads and is empty, so `dagster dev -w workspace.yaml` already starts."""

import dagster as dg

defs = dg.Definitions()
