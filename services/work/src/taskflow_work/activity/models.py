"""The activity log of a task: every change to it, and every comment on it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_work.tables import WorkTable


class Activity(WorkTable, table=True):
    __tablename__ = "task_activity"
    __table_args__ = (Index("ix_task_activity_task_at", "task_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    task_id: uuid.UUID = Field(foreign_key="tasks.id", ondelete="CASCADE")
    actor_id: uuid.UUID
    action: str = Field(max_length=32)
    # JSON: {"field": [before, after]} for edits, or what was assigned/commented.
    details_json: str = Field(default="{}", sa_column=Column("details", Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
