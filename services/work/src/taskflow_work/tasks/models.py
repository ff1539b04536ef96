"""Tasks and their assignees."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text
from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_work.tables import WorkTable


class Status(StrEnum):
    BACKLOG = "backlog"
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    IN_REVIEW = "in_review"
    DONE = "done"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


PRIORITY_RANK = {Priority.LOW: 0, Priority.MEDIUM: 1, Priority.HIGH: 2, Priority.CRITICAL: 3}


class Task(WorkTable, table=True):
    __tablename__ = "tasks"
    # Each list query filters by team (the caller's teams) or project, then sorts:
    # these keep a page an index range scan on a large table.
    __table_args__ = (
        Index("ix_tasks_team_created", "team_id", "created_at", "id"),
        Index("ix_tasks_project_created", "project_id", "created_at", "id"),
        Index("ix_tasks_project_priority", "project_id", "priority_rank", "id"),
        Index("ix_tasks_team_due", "team_id", "due_at", "id"),
        Index("ix_tasks_team_priority", "team_id", "priority_rank", "id"),
        Index("ix_tasks_team_status", "team_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")
    team_id: uuid.UUID
    title: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(default=Status.TODO, max_length=16)
    priority: str = Field(default=Priority.MEDIUM, max_length=16)
    priority_rank: int = Field(default=1)
    due_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    estimate_hours: float | None = None
    labels_json: str = Field(default="[]", sa_column=Column("labels", Text, nullable=False))
    # The task_assignees rows of this task in assignment order, as JSON: shown with every
    # read of a task without a join. Each write to task_assignees writes it too.
    assignee_ids_json: str = Field(
        default="[]", sa_column=Column("assignee_ids", Text, nullable=False)
    )
    created_by: uuid.UUID
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class TaskAssignee(WorkTable, table=True):
    __tablename__ = "task_assignees"

    task_id: uuid.UUID = Field(foreign_key="tasks.id", primary_key=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(primary_key=True, index=True)
    assigned_by: uuid.UUID
    assigned_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
