"""Every route dependency of ours is an ``async def``: FastAPI runs a plain ``def`` on its
thread pool, a hop to another thread and back on every request (a dependency that only
set a flag on work's create cost more that way than the two round trips it saved).

Checked on the source: each ``Depends(name)`` whose ``name`` is defined in the same
module, or imported by name from one of ours, names an ``async def``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "libs" / "chassis" / "src", *sorted((ROOT / "services").glob("*/src"))]


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for source in SOURCES:
        for path in source.rglob("*.py"):
            parts = list(path.relative_to(source).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _functions(tree: ast.Module) -> dict[str, bool]:
    """The module's own top-level functions: name → whether it is an ``async def``."""
    return {
        node.name: isinstance(node, ast.AsyncFunctionDef)
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _dependencies(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "Depends"
            and node.args
            and isinstance(node.args[0], ast.Name)
        ):
            yield node.lineno, node.args[0].id


def _imported_from(tree: ast.Module, module: str) -> dict[str, str]:
    """Names imported with ``from <one of ours> import name``: name → its module."""
    package = module.split(".")
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level] if node.level else []
            source = ".".join([*base, *([node.module] if node.module else [])])
            if source in MODULES:
                names.update((alias.asname or alias.name, source) for alias in node.names)
    return names


def _plain_dependencies(module: str, path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    own, imported = _functions(tree), _imported_from(tree, module)
    plain = []
    for line, name in _dependencies(tree):
        if name in own:
            is_async = own[name]
        elif name in imported:
            theirs = _functions(ast.parse(MODULES[imported[name]].read_text()))
            if name not in theirs:
                continue  # a class or an alias there: not a function of ours
            is_async = theirs[name]
        else:
            continue
        if not is_async:
            plain.append(f"line {line}: Depends({name}) is a plain def")
    return plain


@pytest.mark.parametrize("module", sorted(MODULES))
def test_route_dependencies_are_async(module: str) -> None:
    assert _plain_dependencies(module, MODULES[module]) == []


def test_the_check_sees_a_plain_dependency(tmp_path: Path) -> None:
    example = tmp_path / "example.py"
    example.write_text(
        "from fastapi import Depends\n"
        "def flag(request): ...\n"
        "async def fine(request): ...\n"
        "def route(a=Depends(flag), b=Depends(fine)): ...\n"
    )
    assert _plain_dependencies("example", example) == ["line 4: Depends(flag) is a plain def"]
