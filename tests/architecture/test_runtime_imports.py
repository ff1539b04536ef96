"""What runs in production imports no test code: the services, the chassis and the
embedded runtimes (``make dev``, ``make up``) start where pytest is not installed.
Checked on the source, every import statement, those inside functions too, each name a
``from`` import brings (``from taskflow_chassis import testing``), relative ones
resolved, and ``importlib.import_module`` of a literal name."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "libs" / "chassis" / "src", ROOT / "embedded" / "src"]
SOURCES += sorted((ROOT / "services").glob("*/src"))
# The chassis' helpers for the test suites: test code itself, imported only by tests.
TEST_MODULES = {"taskflow_chassis.testing"}
TEST_PACKAGES = {"pytest", "_pytest", "hypothesis", "schemathesis", *TEST_MODULES}


def _package_of(path: Path, source: Path) -> list[str]:
    """The dotted package a module file sits in, relative to its ``src`` folder."""
    return list(path.relative_to(source).parent.parts)


def _imports(tree: ast.Module, package: list[str]) -> Iterator[tuple[int, str]]:
    """Each module an import may load, by line: ``from a import b`` names ``a`` and
    ``a.b`` (``b`` may be a module)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module:
                yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}" if module else alias.name
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


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
                for line, module in _imports(tree, _package_of(path, source))
                if _is_test_code(module)
            ]
    assert offending == []


@pytest.mark.parametrize(
    "code",
    [
        "def create():\n    from taskflow_chassis.testing import helper\n",
        "from taskflow_chassis import testing\n",
        "from . import testing\n",
        "from .testing import helper\n",
        "import pytest\n",
        "import importlib\nimportlib.import_module('taskflow_chassis.testing')\n",
    ],
)
def test_the_rule_sees_each_way_of_importing(code: str) -> None:
    """As written in a module of the ``taskflow_chassis`` package."""
    found = [m for _, m in _imports(ast.parse(code), ["taskflow_chassis"]) if _is_test_code(m)]
    assert found, code


def test_the_rule_lets_other_imports_be() -> None:
    code = "from taskflow_chassis import db\nfrom .bus import memory\nimport asyncio\n"
    assert not [m for _, m in _imports(ast.parse(code), ["taskflow_chassis"]) if _is_test_code(m)]
