"""Notifications (the feed), preferences and the reminders already sent."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_notify.tables import NotifyTable


class Kind(StrEnum):
    INVITATION = "invitation"
    INVITATION_ACCEPTED = "invitation_accepted"
    PASSWORD_RESET = "password_reset"
    EMAIL_VERIFICATION = "email_verification"
    EMAIL_CHANGE = "email_change"  # the link, to the new address
    EMAIL_CHANGE_NOTICE = "email_change_notice"  # the warning, to the old address
    TASK_ASSIGNED = "task_assigned"
    TASK_COMMENTED = "task_commented"
    TASK_DUE = "task_due"


class Notification(NotifyTable, table=True):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID
    kind: str = Field(max_length=32)
    title: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    link: str | None = Field(default=None, max_length=2000)
    # What it is about, for a client to go to without parsing the link (null when none).
    team_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    task_id: uuid.UUID | None = None
    # Who caused it (the inviter, the assigner, the comment's author), if anyone.
    actor_id: uuid.UUID | None = None
    # What caused it: one notification per (cause, recipient), however often the cause arrives.
    dedupe_key: str = Field(max_length=200, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    read_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Preferences(NotifyTable, table=True):
    __tablename__ = "preferences"

    user_id: uuid.UUID = Field(primary_key=True)
    email_on_assignment: bool = True
    email_on_comment: bool = True
    email_reminders: bool = True
    reminder_lead_hours: int = 24


class ReminderSent(NotifyTable, table=True):
    """One reminder per task, due time and assignee: a moved due time re-arms it."""

    __tablename__ = "reminders_sent"
    __table_args__ = (
        UniqueConstraint("task_id", "user_id", "due_at", name="uq_reminder_task_user_due"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    task_id: uuid.UUID = Field(index=True)
    user_id: uuid.UUID
    due_at: datetime = Field(sa_column=utc_column())
    sent_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
