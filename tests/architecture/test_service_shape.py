"""One inner shape for every service, checked on the source (issue 17).

A reader who knows one service knows them all: the same root modules, the same
files per domain folder, ``replica/`` for other services' data, one map from
payload class to handlers, no import circles, no imports hidden in functions,
no module-level mutable state, commits only through the unit of work.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p for p in (ROOT / "services").iterdir() if (p / "src").is_dir())
PACKAGES = {p.name: next((p / "src").glob("taskflow_*")) for p in SERVICES}

# app: the composition root; config: settings; deps: route dependency aliases and the
# handlers' context; handlers: EVENT_HANDLERS; tables: the table base class; models: every
# table of the service (imports each domain's models.py, for create_all and Alembic).
ROOT_MODULES = {"__init__", "__main__", "app", "config", "deps", "handlers", "models", "tables"}
# Optional root modules: the authorization dependency, where the service has teams' rules;
# the Celery worker's composition root, where the service has jobs.
OPTIONAL_ROOT_MODULES = {"access", "worker"}
# Imports deferred to a function's first call, each for a reason: (file, function).
DEFERRED_IMPORTS = {
    # The reminder scan shares the API's code (FastAPI with it): loaded on the first scan,
    # so a restarted Celery worker sends email again seconds sooner.
    ("services/notify/src/taskflow_notify/notifications/jobs.py", "_scan"),
}
DOMAIN_FILES = {
    "__init__",
    "models",  # table models
    "schemas",  # API models
    "service",  # what the views and handlers call
    "views",  # thin routes
    "messaging",  # event handlers
    "scheduled",  # background loops and periodic jobs
    "queries",  # read-side statements shared by service and views
    "commands",  # operator commands (python -m taskflow_<svc> ...)
    "rules",  # pure domain rules, no database
    "adapters",  # what talks to the outside: another service's API, SMTP
    "jobs",  # Celery jobs
}
# Packaging, templates and migrations are not Python domain folders.
NON_DOMAIN_DIRS = {"templates", "__pycache__", "static"}

# Module-level calls that build constant or stateless objects.
STATELESS_CALLS = {
    "getLogger",
    "APIRouter",
    "table_of",
    "TypeVar",
    "Annotated",
    "Depends",
    "requires",
    "problem_responses",
    "frozenset",
    "compile",
    "PasswordHash",
    "timedelta",
    "Field",
    "StrEnum",
    "NewType",
    "cast",
    "internal_router",
}


def _ids(items: dict[str, Path]) -> list[str]:
    return sorted(items)


def _modules(package: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split(".")
        if path.name != "__init__.py":
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    return [prefix] + [f"{prefix}.{alias.name}" for alias in node.names]


def _import_graph(package: Path) -> dict[str, set[str]]:
    modules = dict(_modules(package))
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _imported(name, path, node):
                    if target in modules and target != name:
                        graph[name].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.mark.parametrize("service", _ids(PACKAGES))
def test_the_same_root_modules(service: str) -> None:
    package = PACKAGES[service]
    present = {p.stem for p in package.glob("*.py")}
    assert present >= ROOT_MODULES, f"missing {sorted(ROOT_MODULES - present)}"
    assert present <= ROOT_MODULES | OPTIONAL_ROOT_MODULES, (
        f"root modules outside the shape: {sorted(present - ROOT_MODULES - OPTIONAL_ROOT_MODULES)}"
    )


@pytest.mark.parametrize("service", _ids(PACKAGES))
def test_domain_folders_hold_the_same_files(service: str) -> None:
    package = PACKAGES[service]
    for folder in sorted(p for p in package.iterdir() if p.is_dir()):
        if folder.name in NON_DOMAIN_DIRS:
            continue
        files = {p.stem for p in folder.glob("*.py")}
        assert "__init__" in files and "service" in files, f"{folder.name}/ has no service.py"
        assert files <= DOMAIN_FILES, f"{folder.name}/ holds {sorted(files - DOMAIN_FILES)}"
        assert not [p for p in folder.iterdir() if p.is_dir() and p.name != "__pycache__"]


@pytest.mark.parametrize("service", _ids(PACKAGES))
def test_other_services_data_lives_in_replica(service: str) -> None:
    package = PACKAGES[service]
    for folder in ("directory", "mirror", "cache", "external"):
        assert not (package / folder).exists(), f"{folder}/ should be replica/"


@pytest.mark.parametrize("service", _ids(PACKAGES))
def test_one_event_handler_map(service: str) -> None:
    from taskflow_contracts.base import EventPayload

    handlers = importlib.import_module(f"{PACKAGES[service].name}.handlers")
    mapping = handlers.EVENT_HANDLERS
    assert all(isinstance(k, type) and issubclass(k, EventPayload) for k in mapping)
    declared = [
        path
        for _, path in _modules(PACKAGES[service])
        if "EVENT_HANDLERS" in path.read_text() and path.name not in {"handlers.py", "app.py"}
    ]
    assert not declared, f"EVENT_HANDLERS outside handlers.py and app.py: {declared}"


@pytest.mark.parametrize("service", _ids(PACKAGES))
def test_no_import_circles(service: str) -> None:
    package = PACKAGES[service]
    graph = _import_graph(package)
    assert _cycle(graph) is None, f"modules import each other in a circle: {_cycle(graph)}"
    # Between domain folders too: replica/ may serve tasks/, never the other way round as well.
    prefix = package.name + "."
    folders: dict[str, set[str]] = {}
    for source, targets in graph.items():
        parts = source.removeprefix(prefix).split(".")
        if len(parts) < 2:
            continue
        for target in targets:
            other = target.removeprefix(prefix).split(".")
            if len(other) >= 2 and other[0] != parts[0]:
                folders.setdefault(parts[0], set()).add(other[0])
    assert _cycle(folders) is None, f"domain folders import each other: {_cycle(folders)}"


def _source_files() -> list[Path]:
    return [path for package in PACKAGES.values() for _, path in _modules(package)]


@pytest.mark.parametrize("path", _source_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_hidden_imports_globals_or_commits(path: Path) -> None:
    tree = _tree(path)
    problems: list[str] = []
    for node in ast.walk(tree):
        deferred = (str(path.relative_to(ROOT)), getattr(node, "name", "")) in DEFERRED_IMPORTS
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not deferred:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    problems.append(f"line {inner.lineno}: import inside {node.name}()")
        if isinstance(node, ast.Global):
            problems.append(f"line {node.lineno}: global {', '.join(node.names)}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "commit"
            and not (isinstance(node.func.value, ast.Name) and node.func.value.id == "uow")
            and not (isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "uow")
        ):
            problems.append(f"line {node.lineno}: commit outside a unit of work")
        if isinstance(node, ast.Name) and node.id in {"add_to_outbox", "new_event"}:
            problems.append(f"line {node.lineno}: {node.id} (stage on the unit of work)")
    if path.name == "messaging.py":
        problems += [
            f"line {n.lineno}: a handler commits"
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and n.attr == "commit"
        ]
    for statement in tree.body:
        problems += _module_state(statement)
    assert not problems, "\n".join(problems)


def _module_state(statement: ast.stmt) -> list[str]:
    if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef):
        decorators = {ast.unparse(d).split("(")[0].split(".")[-1] for d in statement.decorator_list}
        if decorators & {"lru_cache", "cache"}:
            return [f"line {statement.lineno}: a module-level cache ({statement.name})"]
        return []
    if isinstance(statement, ast.Assign | ast.AnnAssign):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        value = statement.value
        if value is None or all(n.isupper() or n.startswith("__") for n in names):
            return []
        if isinstance(value, ast.Dict | ast.List | ast.Set | ast.ListComp | ast.DictComp):
            return [f"line {statement.lineno}: mutable module state {names}"]
        if isinstance(value, ast.Call):
            called = ast.unparse(value.func).split(".")[-1]
            if called not in STATELESS_CALLS:
                return [f"line {statement.lineno}: {names} = {called}(...) at import"]
    return []
