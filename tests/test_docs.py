"""The README documents the schema exactly as the code defines it."""

from pathlib import Path

from pipelines.parsing.logformat import markdown_table


def test_readme_schema_table_is_current():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert markdown_table() in readme, "regenerate with: python -m pipelines.parsing.logformat"
