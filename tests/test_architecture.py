"""The layout docs/architecture.md draws, held: the engine never imports Dagster, its modules import
no cycle and no private name of another module, only the edge reads the environment, and
no module is longer than a reader can hold in mind (400 lines, the compiled kernel aside)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "pipelines"
# what reads the environment: the settings, the command line that builds them, and the
# AWS endpoint convention (AWS_ENDPOINT_URL_S3) that boto3 and s3fs share
EDGE = {"pipelines.config", "pipelines.lake.storage"}
# A module a reader can hold in mind (project issue 19), with one exemption and its reason.
MAX_LINES = 400
LONG_ALLOWED = {
    "pipelines.parsing.parse_kernel": "the compiled kernel (numba): the fast path's one pass "
                                      "over a chunk, kept whole",
}


def _modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(ENGINE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(), str(path))
    return found


def _imports(name: str, tree: ast.Module) -> list[tuple[str, str]]:
    """(module, imported name) of every import in the module, functions' included."""
    package = name if tree is not None and name.count(".") == 0 else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: package.count(".") + 2 - node.level]
                module = ".".join(base + ([module] if module else []))
            out += [(module, a.name) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names]
    return out


def test_the_engine_never_imports_dagster():
    for name, tree in _modules().items():
        assert not [m for m, _ in _imports(name, tree) if m.split(".")[0] == "dagster"], name


def test_no_module_of_the_engine_imports_a_cycle_or_a_private_name():
    modules = _modules()
    edges: dict[str, set[str]] = {}
    for name, tree in modules.items():
        for module, imported in _imports(name, tree):
            if not module.startswith("pipelines"):
                continue
            target = f"{module}.{imported}" if f"{module}.{imported}" in modules else module
            if target != name and target in modules and target != "pipelines":
                edges.setdefault(name, set()).add(target)
            assert target != module or not imported.startswith("_"), \
                f"{name} imports the private {module}.{imported}"

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            assert nxt not in path, "import cycle: " + " -> ".join([*path, nxt])
            visit(nxt, [*path, nxt])

    for name in modules:
        visit(name, [name])


def test_only_the_edge_reads_the_environment():
    for name, tree in _modules().items():
        if name in EDGE or name.startswith("pipelines.cli"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") \
                    and isinstance(node.value, ast.Name) and node.value.id == "os":
                raise AssertionError(f"{name} reads the environment: take the setting as "
                                     "a parameter from the edge (pipelines.config)")


def test_no_module_of_the_engine_is_over_400_lines():
    over = {}
    for path in sorted(ENGINE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES and name not in LONG_ALLOWED:
            over[name] = lines
    assert not over, (f"over {MAX_LINES} lines: {over}; split them by what they do "
                      "(see docs/architecture.md, Layout)")


TESTS = ROOT / "tests"


def _imports_of_test_modules(path: Path) -> list[str]:
    """Where the module imports a test module (test_*.py) or conftest, functions' imports
    included: `name.py, line N: module` each."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from .test_x import y, from . import test_x
                base = ".".join(["tests", *([base] if base else [])])
            names = [base, *(f"{base}.{a.name}" for a in node.names)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            module = name.removeprefix("tests.")
            if "." not in module and (module == "conftest" or module.startswith("test_")):
                found.append(f"{path.name}, line {node.lineno}: {name}")
    return found


def test_test_modules_share_helpers_not_each_other():
    """What several test modules use lives in tests/helpers.py (or loglines.py, servers.py):
    importing a test module runs its module-level code twice and ties its tests to
    another's, and conftest is pytest's, for fixtures (project issue 19)."""
    offenders = [f for path in sorted(TESTS.glob("*.py")) for f in _imports_of_test_modules(path)]
    assert not offenders, ("import what test modules share from tests.helpers, not from a test "
                           "module or conftest:\n" + "\n".join(offenders))
