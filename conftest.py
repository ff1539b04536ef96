"""Run-wide pytest hooks: the figures the system and fault tests measured, printed at the end.

Here at the root so the main process has it also when pytest-xdist runs the tests in
workers (their reports carry each figure as a ``user_properties`` entry).
"""

from __future__ import annotations

from typing import Any


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
