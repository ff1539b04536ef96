"""How ``make test`` hands its files to pytest-xdist (the root conftest): longest first by
``tests/durations.json``, each file whole, the files on the shared stack as one unit."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def root_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location("taskflow_root_conftest", ROOT / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Item:
    nodeid: str


def order_of(nodeids: list[str]) -> list[str]:
    items: list[Any] = [Item(nodeid) for nodeid in nodeids]
    root_conftest().pytest_collection_modifyitems(items)
    return [item.nodeid for item in items]


def test_every_file_the_table_names_exists() -> None:
    """A renamed or deleted file leaves the table: ``python tests/durations.py`` again."""
    table = json.loads((ROOT / "tests" / "durations.json").read_text())
    assert len(table) > 100
    assert [file for file in table if not (ROOT / file).is_file()] == []


def test_files_go_longest_first_whole_and_the_shared_stacks_files_together() -> None:
    table = json.loads((ROOT / "tests" / "durations.json").read_text())
    slow = "tests/system/test_faults_email.py"
    quick = "services/work/tests/test_tasks.py"
    assert table[slow] > table[quick]
    # A browser file and another on the shared stack: one unit, to one worker, one stack.
    shared = ["tests/system/test_browser_pages.py", "tests/system/test_journey.py"]
    assert all("shared_stack(" in (ROOT / file).read_text() for file in shared)
    assert "shared_stack(" not in (ROOT / slow).read_text()  # a stack of its own
    unknown = "services/work/tests/test_not_measured_yet.py"
    nodeids = [
        f"{quick}::test_a",
        f"{shared[0]}::test_a",
        f"{unknown}::test_a",
        f"{slow}::test_a",
        f"{quick}::test_b",
        f"{shared[1]}::test_a",
        f"{slow}::test_b",
    ]
    ordered = order_of(nodeids)
    files = [nodeid.split("::")[0] for nodeid in ordered]
    # Each file's tests stay in their order, and every file comes out in one piece.
    for file in set(files):
        mine = [nodeid for nodeid in nodeids if nodeid.startswith(file)]
        assert [nodeid for nodeid in ordered if nodeid.startswith(file)] == mine
    runs = [file for n, file in enumerate(files) if n == 0 or files[n - 1] != file]
    assert len(runs) == len(set(files))
    # The shared stack's files weigh together, so they come out side by side.
    named = ["shared" if f in shared else f for f in runs]
    units = [unit for n, unit in enumerate(named) if n == 0 or named[n - 1] != unit]
    assert len(units) == len(set(units))
    seconds = {
        "shared": sum(table[file] for file in shared),
        slow: table[slow],
        quick: table[quick],
        unknown: 2.0,  # one test not measured yet: the conftest's estimate
    }
    assert units == sorted(units, key=lambda unit: -seconds[unit])
