"""Run-wide pytest hooks: the figures the system and fault tests measured, printed at the end;
how pytest-xdist hands out the test files; the pooled test databases dropped.

Here at the root so the main process has it also when pytest-xdist runs the tests in
workers (their reports carry each figure as a ``user_properties`` entry).

With ``--dist loadfile`` (``make test``) the files go out longest first, by the seconds
each took in a measured run (``tests/durations.json``; a file not in it is estimated from
its number of tests), instead of by their number of tests: a long file handed out last
would end the run alone while the other workers idle. The system test files that share a
stack (the browser's among them) go out as one unit, to one worker, where they share one
stack (tests/system/conftest.py's ``shared_system``).

As a session ends, each process drops the PostgreSQL databases it kept for its tests
(``taskflow_chassis.testing.migrated_postgres``).
"""

from __future__ import annotations

import functools
import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling

ROOT = Path(__file__).parent
SYSTEM_TESTS = "tests/system/"
SHARED_STACK_FILES = "tests/system (the shared stack's files)"
DURATIONS = ROOT / "tests" / "durations.json"
# A file the table does not know yet: about the seconds of a test, on average, in make test.
SECONDS_A_TEST = 2.0


@functools.cache
def unit_of(file: str) -> str:
    """What pytest-xdist hands to one worker: a file, or every system test file that runs on
    the process's shared stack (``shared_stack()`` in tests/system/conftest.py): one stack
    for them all instead of one per worker, each about 20 s of CPU to start and a twentieth
    of a core while it idles until the worker ends."""
    if file.startswith(SYSTEM_TESTS) and "shared_stack(" in (ROOT / file).read_text():
        return SHARED_STACK_FILES
    return file


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    measured: dict[str, float] = json.loads(DURATIONS.read_text()) if DURATIONS.exists() else {}
    tests_in: Counter[str] = Counter(item.nodeid.split("::")[0] for item in items)
    seconds: defaultdict[str, float] = defaultdict(float)
    for file, count in tests_in.items():
        seconds[unit_of(file)] += measured.get(file, count * SECONDS_A_TEST)
    # A stable sort: whole files move, each file's tests in their order.
    items.sort(key=lambda item: -seconds[unit_of(item.nodeid.split("::")[0])])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    # The order pytest_collection_modifyitems chose, not the largest files first.
    config.option.loadscopereorder = False
    scheduler = LoadFileScheduling(config, log)
    file_of = scheduler._split_scope
    scheduler._split_scope = lambda nodeid: unit_of(file_of(nodeid))
    return scheduler


def pytest_terminal_summary(terminalreporter: Any) -> None:
    figures = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for key, value in getattr(report, "user_properties", ())
        if key == "figure"
    ]
    if figures:
        terminalreporter.section("TaskFlow system figures")
        for line in figures:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    # Each process's emptied PostgreSQL databases, kept for its next test, go with it.
    from taskflow_chassis.testing import drop_postgres_pools

    drop_postgres_pools()
