"""The documentation says what the code says: the generated parts of README.md and docs/
are what pipelines.sql.reference renders now, the site builds with --strict, the README
stays short, and no relative link points at nothing."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

from pipelines.sql import ddl, reference

ROOT = Path(__file__).resolve().parents[1]
MKDOCS = Path(sys.executable).parent / "mkdocs"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_generated_docs_are_current():
    rendered = reference.render(ROOT)
    stale = [path for path, text in rendered.items()
             if not (ROOT / path).is_file()
             or (ROOT / path).read_text(encoding="utf-8") != text]
    stale += ddl.extra_files(ROOT, rendered)
    assert not stale, f"the generated docs are stale ({', '.join(stale)}): run `make docs`"


def test_a_stale_or_orphaned_ddl_file_is_found_and_rewritten(tmp_path):
    """The DDL of sql/athena/ and sql/hive/ goes through the same --check and --write as
    the pages: an edited file is stale, one no table needs any more is removed."""
    for path in reference.render(ROOT):
        if not path.startswith("sql/"):  # the pages render() splices into
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / path).write_text((ROOT / path).read_text(encoding="utf-8"))
    assert reference.main(["--write", "--root", str(tmp_path)]) == 0
    assert reference.stale(tmp_path) == []
    edited = tmp_path / "sql" / "hive" / "usage_daily.hql"
    edited.write_text(edited.read_text().replace("bigint", "int"))
    (tmp_path / "sql" / "athena" / "dropped_model.hql").write_text("-- old\n")
    assert reference.stale(tmp_path) == ["sql/hive/usage_daily.hql",
                                         "sql/athena/dropped_model.hql"]
    assert reference.main(["--check", "--root", str(tmp_path)]) == 1
    assert sorted(reference.write(tmp_path)) == ["sql/athena/dropped_model.hql",
                                                 "sql/hive/usage_daily.hql"]
    assert reference.stale(tmp_path) == [] and not (tmp_path / "sql/athena/dropped_model.hql"
                                                    ).exists()


def test_the_generated_parts_say_what_the_code_says():
    # what the render holds, so a renderer that wrote nothing would not pass the test above
    from pipelines.parsing.logformat import FIELDS
    from pipelines.sql.catalog import Kind, load

    catalog = load()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert catalog.markdown_table() in readme, "run `make docs`"
    page = (ROOT / reference.REFERENCE).read_text(encoding="utf-8")
    for model in catalog.models.values():
        assert f"### `{model.name}`" in page, model.name
        for column in model.columns:
            assert f"| `{column}` |" in page, (model.name, column)
    schema = (ROOT / "docs" / "schema.md").read_text(encoding="utf-8")
    assert all(f"| `{f.name}` |" in schema for f in FIELDS)
    settings = (ROOT / "docs" / "security" / "detections.md").read_text(encoding="utf-8")
    seed = catalog.read_bytes(catalog["detection_settings"].seed_file).decode()
    for row in list(csv.DictReader(io.StringIO(seed))):
        assert f"| `{row['detection']}` |" in settings, row
    assert {m.name for m in catalog.of(Kind.MODEL)} <= set(re.findall(r"`(\w+)`", readme))


def test_the_site_builds_strict(tmp_path):
    out = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "analysts" / "reference.html").is_file()


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines < 200, f"README.md has {lines} lines: move detail into docs/"


def test_every_relative_link_points_at_a_file():
    broken = []
    for page in pages():
        in_code = False
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
            if FENCE.match(line):
                in_code = not in_code
            if in_code:
                continue
            for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
                if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                    continue  # a URL (http:, mailto:) or an anchor on the same page
                path = target.split("#", 1)[0]
                if not (page.parent / path).exists():
                    broken.append(f"{page.relative_to(ROOT)}:{number}: {target}")
    assert not broken, "links to no file:\n" + "\n".join(broken)
