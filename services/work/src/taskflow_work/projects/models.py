"""Projects: a team's unit of work."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

from sqlalchemy import Column, Index, Text
from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_work.tables import WorkTable


class Project(WorkTable, table=True):
    __tablename__ = "projects"
    __table_args__ = (Index("ix_projects_team_created", "team_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    team_id: uuid.UUID
    name: str = Field(max_length=200)
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    starts_on: date | None = None
    due_on: date | None = None
    # JSON object; "metadata" is reserved on declarative classes, hence the attribute name.
    metadata_json: str = Field(default="{}", sa_column=Column("metadata", Text, nullable=False))
    archived: bool = Field(default=False)
    created_by: uuid.UUID
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    # Set by DELETE: the project and its tasks are hidden from every read and write,
    # restorable until RESTORABLE_FOR has passed, then purged (projects/scheduled.py).
    deleted_at: datetime | None = Field(
        default=None, sa_column=utc_column(nullable=True, index=True)
    )


# How long a deleted project can be restored before it is purged.
RESTORABLE_FOR = timedelta(days=30)
