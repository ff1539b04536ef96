"""Task API models."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
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


class TaskCreate(Input):
    title: Title
    description: Description | None = None
    status: Status = Status.TODO
    priority: Priority = Priority.MEDIUM
    due_at: DueAt | None = None
    estimate_hours: Hours | None = None
    labels: Labels = []
    assignee_ids: AssigneeIds = []


class TaskUpdate(Input):
    title: Title | None = None
    description: Description | None = None
    status: Status | None = None
    priority: Priority | None = None
    due_at: DueAt | None = None
    estimate_hours: Hours | None = None
    labels: Labels | None = None


class AssigneeAdd(Input):
    user_id: uuid.UUID


class TaskRead(BaseModel):
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
