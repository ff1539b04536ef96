"""Every problem type the code can answer is in the catalogue
(``taskflow_contracts.problems``), so each document's ``type`` opens a page that says what it
means: checked on the source, where a new type is written."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from taskflow_contracts.problems import (
    CLOSED_INVITATION_STATUSES,
    NOT_FOUND_SUBJECTS,
    PROBLEM_TYPES,
)
from taskflow_teams.teams.models import InvitationStatus

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "libs" / "chassis" / "src", ROOT / "embedded" / "src"]
SOURCES += sorted((ROOT / "services").glob("*/src"))
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")
# Where a slug is passed by position rather than as ``type=``.
SLUG_ARGUMENT_CALLS = {"_problem"}


def _trees() -> Iterator[tuple[Path, ast.Module]]:
    for source in SOURCES:
        for path in sorted(source.rglob("*.py")):
            yield path, ast.parse(path.read_text(), str(path))


def _slugs_in(node: ast.AST) -> Iterator[str]:
    """The literal problem types ``node`` names: ``type="..."`` of a call, a slug argument
    of a call in SLUG_ARGUMENT_CALLS, ``PROBLEM_TYPE_BASE + "..."``, and the slugs of a
    ``_PRECEDENCE`` table (status, slug, title)."""
    if isinstance(node, ast.Call):
        for keyword in node.keywords:
            if keyword.arg == "type" and isinstance(keyword.value, ast.Constant):
                yield str(keyword.value.value)
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name in SLUG_ARGUMENT_CALLS:
            for argument in node.args:
                if isinstance(argument, ast.Constant) and SLUG.match(str(argument.value)):
                    yield str(argument.value)
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.left, ast.Name)
        and node.left.id == "PROBLEM_TYPE_BASE"
        and isinstance(node.right, ast.Constant)
    ):
        yield str(node.right.value)
    if isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id.endswith("PRECEDENCE") for t in node.targets
    ):
        for row in getattr(node.value, "elts", []):
            yield str(row.elts[1].value)


def _used() -> dict[str, str]:
    used: dict[str, str] = {}
    for path, tree in _trees():
        for node in ast.walk(tree):
            for slug in _slugs_in(node):
                used.setdefault(slug, f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}")
    return used


def test_every_problem_type_in_the_code_is_in_the_catalogue() -> None:
    used = _used()
    # The scan finds them where they are written (a broken scan would pass everything).
    assert {"insufficient-scope", "malformed-json", "idempotency-key-spent"} <= set(used)
    assert "bulk-change-invalid" in used
    missing = {slug: where for slug, where in used.items() if slug not in PROBLEM_TYPES}
    missing.pop("about:blank", None)
    assert not missing, f"add these to taskflow_contracts.problems: {missing}"


def test_every_not_found_subject_is_in_the_catalogue() -> None:
    """``not_found("Task")`` answers ``task-not-found``: each subject named in the code."""
    named: dict[str, str] = {}
    for path, tree in _trees():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "not_found"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                named[str(node.args[0].value)] = f"{path.relative_to(ROOT)}:{node.lineno}"
    assert {"Task", "Team", "API token"} <= set(named)
    missing = {s: where for s, where in named.items() if s not in NOT_FOUND_SUBJECTS}
    assert not missing, f"add these to NOT_FOUND_SUBJECTS: {missing}"


def test_a_closed_invitation_of_every_status_is_in_the_catalogue() -> None:
    closed = {status.value for status in InvitationStatus} - {"pending"}
    assert closed == set(CLOSED_INVITATION_STATUSES)
    assert all(f"invitation-{status}" in PROBLEM_TYPES for status in closed)


def test_each_entry_says_what_to_do() -> None:
    for slug, problem in PROBLEM_TYPES.items():
        assert re.match(r"^[a-z0-9]+(-[a-z0-9]+)*$", slug), slug
        assert 400 <= problem.status < 600, slug
        assert problem.title and problem.meaning.endswith("."), slug
