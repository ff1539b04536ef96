"""What runs in production imports no test code: the services, the chassis and the
embedded runtimes (``make dev``, ``make up``) start where pytest is not installed.
Checked on the source, every import statement, those inside functions too."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "libs" / "chassis" / "src", ROOT / "embedded" / "src"]
SOURCES += sorted((ROOT / "services").glob("*/src"))
# The chassis' helpers for the test suites: test code itself, imported only by tests.
TEST_MODULES = {"taskflow_chassis.testing"}
TEST_PACKAGES = {"pytest", "_pytest", "hypothesis", "schemathesis", *TEST_MODULES}


def _imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def _is_test_code(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in TEST_PACKAGES)


def test_production_code_imports_no_test_code() -> None:
    offending = []
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            if path.parent.name == "taskflow_chassis" and path.stem == "testing":
                continue
            tree = ast.parse(path.read_text(), str(path))
            offending += [
                f"{path.relative_to(ROOT)}:{line} imports {module}"
                for line, module in _imports(tree)
                if _is_test_code(module)
            ]
    assert offending == []


def test_the_rule_sees_an_import_inside_a_function() -> None:
    tree = ast.parse("def create():\n    from taskflow_chassis.testing import helper\n")
    assert [m for _, m in _imports(tree) if _is_test_code(m)] == ["taskflow_chassis.testing"]
