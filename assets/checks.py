"""The engine's checks (pipelines.sql.checks) as Dagster asset checks."""

import dagster as dg
import pyarrow as pa

from pipelines.sql.checks import ERROR, CheckResult, CheckSpec


def spec(check: CheckSpec, asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(check.name, asset=asset, blocking=check.blocking,
                             description=check.description)


def result(check: CheckResult, asset: str | None = None) -> dg.AssetCheckResult:
    metadata = {k: dg.MetadataValue.json(v) if isinstance(v, (list, dict)) else v
                for k, v in check.metadata.items()}
    metadata["summary"] = check.summary
    if check.offending is not None and check.offending.num_rows:
        metadata["offending_rows"] = dg.MetadataValue.md(markdown(check.offending.slice(0, 20)))
    return dg.AssetCheckResult(
        check_name=check.name, passed=check.passed, metadata=metadata, asset_key=asset,
        severity=dg.AssetCheckSeverity.ERROR if check.severity == ERROR
        else dg.AssetCheckSeverity.WARN)


def markdown(table: pa.Table) -> str:
    """A small Arrow table as a Markdown table (values from log content are escaped)."""
    def cell(v) -> str:
        return "" if v is None else str(v).replace("|", "\\|").replace("\n", " ")[:120]

    head = "| " + " | ".join(table.column_names) + " |"
    rule = "|" + "---|" * table.num_columns
    rows = ["| " + " | ".join(cell(v) for v in r.values()) + " |" for r in table.to_pylist()]
    return "\n".join([head, rule, *rows])
