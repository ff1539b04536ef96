"""Run-wide pytest hooks: the figures the system and fault tests measured, printed at the end;
and how pytest-xdist hands out the test files.

Here at the root so the main process has it also when pytest-xdist runs the tests in
workers (their reports carry each figure as a ``user_properties`` entry).

With ``--dist loadfile`` (``make test``) the files go out in collection order, where the
long-running ones come first (a long file started last would end the run alone), instead
of by their number of tests; and the browser test files go out as one unit, to one worker,
where they share one stack (tests/system/conftest.py's ``web_stack``).
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadFileScheduling

LONG_RUNNING = "long_running"
BROWSER_FILES = "tests/system/test_browser_"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{LONG_RUNNING}: a file that runs for a minute or more, mostly waiting (an outage, "
        "restarts, a browser's stack); collected first, so pytest-xdist starts it first",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A stable sort: whole files move (the mark is a module's), in their order.
    items.sort(key=lambda item: item.get_closest_marker(LONG_RUNNING) is None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getvalue("dist") != "loadfile":
        return None
    # The order pytest_collection_modifyitems chose, not the largest files first.
    config.option.loadscopereorder = False
    scheduler = LoadFileScheduling(config, log)
    file_of = scheduler._split_scope

    def unit_of(nodeid: str) -> str:
        file = file_of(nodeid)
        return BROWSER_FILES if file.startswith(BROWSER_FILES) else file

    scheduler._split_scope = unit_of
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
