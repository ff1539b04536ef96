"""Tasks and their assignees."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, Text, func, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Field
from taskflow_chassis.types import UtcDateTime, utc_column, utcnow

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


class FarFuture(ColumnElement[datetime]):
    """What a task without a due date sorts as, soonest first: last. Written into the
    statement, never bound, so the statement's key is the expression of an index even in
    a plan made without the values (PostgreSQL's generic plan; SQLite compares the text)."""

    inherit_cache = True
    # Nothing of its own to key: its class keys it, so a page statement keeps its place
    # in SQLAlchemy's compiled cache (without this, no key, and a compile each request).
    _traverse_internals: list[Any] = []
    type = UtcDateTime()
    moment = "9999-01-01 00:00:00"


class FarPast(FarFuture):
    """What a task without a due date sorts as, latest first: last again."""

    inherit_cache = True
    moment = "0001-01-02 00:00:00"


@compiles(FarFuture)
def _far_as_stored(element: FarFuture, compiler: SQLCompiler, **kw: object) -> str:
    # As SQLite keeps an instant: UTC without an offset, to the microsecond.
    return f"'{element.moment}.000000'"


@compiles(FarFuture, "mysql")
def _far_as_datetime(element: FarFuture, compiler: SQLCompiler, **kw: object) -> str:
    return f"CAST('{element.moment}.000000' AS DATETIME(6))"


@compiles(FarFuture, "postgresql")
def _far_as_timestamptz(element: FarFuture, compiler: SQLCompiler, **kw: object) -> str:
    return f"CAST('{element.moment}+00' AS TIMESTAMP WITH TIME ZONE)"


def due_key(column: ColumnElement[datetime | None], latest_first: bool) -> ColumnElement[datetime]:
    """The due-date sort's key: never NULL (keyset pages need one), no date last both ways."""
    return func.coalesce(column, FarPast() if latest_first else FarFuture())


class Task(WorkTable, table=True):
    __tablename__ = "tasks"
    # Each list query filters by team (the caller's teams) or project, then sorts:
    # these keep a page an index range scan on a large table.
    __table_args__ = (
        Index("ix_tasks_team_created", "team_id", "created_at", "id"),
        Index("ix_tasks_project_created", "project_id", "created_at", "id"),
        Index("ix_tasks_project_priority", "project_id", "priority_rank", "id"),
        Index("ix_tasks_team_due", "team_id", "due_at", "id"),
        # The due-date sorts, soonest and latest first; MariaDB indexes no expression.
        *(
            Index(
                f"ix_tasks_{scope}_due_{way}",
                f"{scope}_id",
                due_key(literal_column("due_at"), latest_first),
                "id",
            ).ddl_if(dialect=("postgresql", "sqlite"))  # type: ignore[arg-type]  # a tuple: documented
            for scope in ("project", "team")
            for way, latest_first in (("soonest", False), ("latest", True))
        ),
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
