"""Participant profiles: a phone number (E.164) and a display name, one per account."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_auth.tables import AuthTable


class Participant(AuthTable, table=True):
    __tablename__ = "participants"

    user_id: uuid.UUID = Field(primary_key=True, foreign_key="users.id", ondelete="CASCADE")
    display_name: str | None = Field(default=None, max_length=100)
    phone_number: str = Field(max_length=20, unique=True)
    region: str | None = Field(default=None, max_length=2)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
