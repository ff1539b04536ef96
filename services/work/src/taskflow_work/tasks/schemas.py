"""Task API models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.config import JsonDict
from taskflow_chassis.openapi import (
    EXAMPLE_CREATED_AT,
    EXAMPLE_DUE_AT,
    EXAMPLE_OTHER_PERSON,
    EXAMPLE_OTHER_USER_ID,
    EXAMPLE_PERSON,
    EXAMPLE_PROJECT_ID,
    EXAMPLE_TASK_ID,
    EXAMPLE_TEAM_ID,
    EXAMPLE_UPDATED_AT,
    EXAMPLE_USER_ID,
)
from taskflow_chassis.types import DayEndOrInstant

from taskflow_work.replica.schemas import PersonRef
from taskflow_work.tasks.models import FarFuture, Priority, Status

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=20_000)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Hours = Annotated[float, Field(ge=0, le=10_000)]
# An undated task sorts as if due at this instant, soonest first (tasks.models.due_key),
# after every dated one: a due date is accepted only before it, so none sorts among the
# undated. (Latest first, FarPast is year 1, long before the earliest instant accepted.)
LATEST_DUE = datetime.fromisoformat(FarFuture.moment).replace(tzinfo=UTC)


def _before_the_undated(due_at: datetime) -> datetime:
    if due_at >= LATEST_DUE:
        raise ValueError(f"a due date must be before {LATEST_DUE:%Y-%m-%d}")
    return due_at


# Due on a day (a date alone) means due by its end: 2026-12-01 is 2026-12-01T23:59:59.999999Z.
DueAt = Annotated[DayEndOrInstant, AfterValidator(_before_the_undated)]


def _unique(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


Labels = Annotated[list[Label], Field(max_length=20), AfterValidator(_unique)]
AssigneeIds = Annotated[list[uuid.UUID], Field(max_length=50), AfterValidator(_unique)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The examples' task, as created and as shown.
TASK_EXAMPLE: JsonDict = {
    "title": "Write the launch post",
    "description": "What changes for customers, in 800 words.",
    "priority": "high",
    "due_at": EXAMPLE_DUE_AT,
    "estimate_hours": 3.5,
    "labels": ["blog", "launch"],
}


class TaskCreate(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{**TASK_EXAMPLE, "assignee_ids": [EXAMPLE_USER_ID]}]}
    )

    title: Title
    description: Description | None = None
    status: Status = Status.TODO
    priority: Priority = Priority.MEDIUM
    due_at: DueAt | None = None
    estimate_hours: Hours | None = None
    labels: Labels = []
    assignee_ids: AssigneeIds = []


class TaskUpdate(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "in_review", "labels": ["blog", "launch", "copy"]}]
        }
    )

    title: Title | None = None
    description: Description | None = None
    status: Status | None = None
    priority: Priority | None = None
    due_at: DueAt | None = None
    estimate_hours: Hours | None = None
    labels: Labels | None = None


class AssigneeAdd(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"user_id": EXAMPLE_USER_ID}]})

    user_id: uuid.UUID


# Tasks one bulk change takes at most.
MAX_BULK_TASKS = 500
# People one bulk change adds, or removes, at most (each is an activity entry per task).
MAX_BULK_ASSIGNEES = 10


class TaskBulkChanges(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "in_progress", "due_at": EXAMPLE_DUE_AT, "add_labels": ["launch"]}
            ]
        }
    )

    """What a bulk change does to every task it names; each field left out is left alone.
    ``labels`` sets the list; ``add_labels`` and ``remove_labels`` change it (not with
    ``labels``). ``due_at: null`` clears the due date."""

    status: Status | None = None
    due_at: DueAt | None = None
    labels: Labels | None = None
    add_labels: Labels = []
    remove_labels: Labels = []
    add_assignees: Annotated[
        list[uuid.UUID], Field(max_length=MAX_BULK_ASSIGNEES), AfterValidator(_unique)
    ] = []
    remove_assignees: Annotated[
        list[uuid.UUID], Field(max_length=MAX_BULK_ASSIGNEES), AfterValidator(_unique)
    ] = []

    @model_validator(mode="after")
    def _consistent(self) -> TaskBulkChanges:
        if not (self.fields() or self.add_assignees or self.remove_assignees):
            raise ValueError("nothing to change: give at least one change")
        if self.status is None and "status" in self.model_fields_set:
            raise ValueError("status cannot be null")
        if self.labels is not None and (self.add_labels or self.remove_labels):
            raise ValueError("labels sets the list: not with add_labels or remove_labels")
        if set(self.add_labels) & set(self.remove_labels):
            raise ValueError("a label is both added and removed")
        if set(self.add_assignees) & set(self.remove_assignees):
            raise ValueError("a person is both added and removed")
        return self

    def fields(self) -> set[str]:
        """The task fields the change touches, as a PATCH would name them."""
        named: set[str] = {n for n in ("status", "due_at") if n in self.model_fields_set}
        if self.labels is not None or self.add_labels or self.remove_labels:
            named.add("labels")
        return named


class TaskBulkUpdate(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "task_ids": [EXAMPLE_TASK_ID],
                    "changes": {
                        "status": "in_progress",
                        "add_labels": ["launch"],
                        "add_assignees": [EXAMPLE_USER_ID],
                    },
                    "if_match": {EXAMPLE_TASK_ID: '"3f1c0a9e5b7d4e2f8a6c1b0d9e7f5a3c"'},
                }
            ]
        }
    )

    task_ids: Annotated[
        list[uuid.UUID],
        Field(min_length=1, max_length=MAX_BULK_TASKS),
        AfterValidator(_unique),
    ]
    changes: TaskBulkChanges
    # Task id -> the ETag last read of it: that task changes only if it is still current.
    if_match: dict[uuid.UUID, str] = {}


class TaskBulkResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"changed": [EXAMPLE_TASK_ID], "unchanged": []}]}
    )

    # The tasks the request changed, and those already as asked (nothing written for them).
    changed: list[uuid.UUID]
    unchanged: list[uuid.UUID]


class TaskRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_TASK_ID,
                    "project_id": EXAMPLE_PROJECT_ID,
                    "team_id": EXAMPLE_TEAM_ID,
                    **TASK_EXAMPLE,
                    "status": "in_progress",
                    "assignee_ids": [EXAMPLE_USER_ID],
                    "assignees": [EXAMPLE_PERSON],
                    "created_by": EXAMPLE_OTHER_USER_ID,
                    "creator": EXAMPLE_OTHER_PERSON,
                    "created_at": EXAMPLE_CREATED_AT,
                    "updated_at": EXAMPLE_UPDATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID
    project_id: uuid.UUID
    team_id: uuid.UUID
    title: str
    description: str | None
    status: Status
    priority: Priority
    due_at: datetime | None
    estimate_hours: float | None
    labels: list[str]
    assignee_ids: list[uuid.UUID]
    # The same people as assignee_ids, in the same order, with their names.
    assignees: list[PersonRef]
    created_by: uuid.UUID
    creator: PersonRef
    created_at: datetime
    updated_at: datetime


class TaskSort(StrEnum):
    DUE_AT = "due_at"
    DUE_AT_DESC = "-due_at"
    PRIORITY = "priority"
    PRIORITY_DESC = "-priority"
    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
