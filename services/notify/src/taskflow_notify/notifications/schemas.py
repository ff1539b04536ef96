"""Notify API models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class NotificationRead(BaseModel):
    id: uuid.UUID
    kind: str
    title: str
    body: str
    link: str | None
    created_at: datetime
    read_at: datetime | None


class PreferencesRead(BaseModel):
    email_on_assignment: bool
    email_on_comment: bool
    email_reminders: bool
    reminder_lead_hours: int


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email_on_assignment: bool
    email_on_comment: bool
    email_reminders: bool
    # Up to four weeks ahead.
    reminder_lead_hours: Annotated[int, Field(ge=1, le=672)]


class ReadAll(BaseModel):
    marked: int
