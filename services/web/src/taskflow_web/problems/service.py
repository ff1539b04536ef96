"""The problem catalogue as the pages list it."""

from __future__ import annotations

from taskflow_contracts.problems import PROBLEM_TYPES, ProblemType


def catalogue() -> list[tuple[str, ProblemType]]:
    """Every problem type by status, then slug."""
    return sorted(PROBLEM_TYPES.items(), key=lambda item: (item[1].status, item[0]))


def problem_type(slug: str) -> ProblemType | None:
    return PROBLEM_TYPES.get(slug)
