"""The rules that depend on what a request asks (tasks.rules, comments.rules): no database."""

from __future__ import annotations

import uuid

import pytest
from taskflow_chassis.problems import ProblemError
from taskflow_contracts import permissions as P
from taskflow_work.comments import rules as comment_rules
from taskflow_work.tasks import rules
from taskflow_work.tasks.models import Status


@pytest.mark.parametrize(
    ("before", "after", "crosses"),
    [
        ("in_review", "done", True),
        ("done", "todo", True),
        ("todo", "in_progress", False),
        ("done", "done", False),
    ],
)
def test_crossing_done(before: str, after: str, crosses: bool) -> None:
    assert rules.crosses_done(before, after) is crosses


@pytest.mark.parametrize(
    ("status_before", "changes", "needed"),
    [
        ("in_review", {"status": Status.DONE}, [P.TASKS_REVIEW]),
        ("done", {"status": Status.TODO}, [P.TASKS_REVIEW]),
        ("todo", {"status": Status.IN_PROGRESS}, [P.TASKS_UPDATE]),
        ("todo", {"title": "x"}, [P.TASKS_UPDATE]),
        ("in_review", {"status": Status.DONE, "title": "x"}, [P.TASKS_REVIEW, P.TASKS_UPDATE]),
        ("done", {"status": Status.DONE}, [P.TASKS_UPDATE]),
        ("todo", {}, []),
    ],
)
def test_permissions_to_update(
    status_before: str, changes: dict[str, object], needed: list[str]
) -> None:
    assert rules.permissions_to_update(status_before, changes) == needed


def test_permissions_to_create() -> None:
    someone = [uuid.uuid4()]
    assert rules.permissions_to_create(Status.TODO, []) == []
    assert rules.permissions_to_create(Status.DONE, []) == [P.TASKS_REVIEW]
    assert rules.permissions_to_create(Status.TODO, someone) == [P.TASKS_ASSIGN]
    assert rules.permissions_to_create(Status.DONE, someone) == [P.TASKS_REVIEW, P.TASKS_ASSIGN]


@pytest.mark.parametrize("field", rules.REQUIRED)
def test_a_required_value_cannot_be_removed(field: str) -> None:
    with pytest.raises(ProblemError) as refused:
        rules.refuse_removing_required({"description": None, field: None})
    assert refused.value.status == 422 and refused.value.type.endswith("/value-required")
    assert refused.value.extensions["errors"][0]["field"] == field


def test_optional_values_can_be_removed() -> None:
    rules.refuse_removing_required({"description": None, "due_at": None, "title": "kept"})


def test_only_the_author_edits_and_others_need_moderation_to_delete() -> None:
    author, other = uuid.uuid4(), uuid.uuid4()
    assert comment_rules.may_edit(author, author) and not comment_rules.may_edit(author, other)
    assert comment_rules.permissions_to_delete(author, author) == []
    assert comment_rules.permissions_to_delete(author, other) == [P.COMMENTS_MODERATE]
    assert comment_rules.not_author().status == 403
