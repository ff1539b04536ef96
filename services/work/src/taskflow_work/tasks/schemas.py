"""Task API models."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
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
from taskflow_work.tasks.models import Priority, Status

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=20_000)]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Hours = Annotated[float, Field(ge=0, le=10_000)]
# Due on a day (a date alone) means due by its end: 2026-12-01 is 2026-12-01T23:59:59.999999Z.
DueAt = DayEndOrInstant


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
