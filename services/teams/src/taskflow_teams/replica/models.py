"""The replica of auth's users: what teams knows of people, learned from auth's events.

Its table keeps its first name, ``directory``."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_teams.tables import TeamsTable


class Person(TeamsTable, table=True):
    __tablename__ = "directory"

    user_id: uuid.UUID = Field(primary_key=True)
    username: str = Field(max_length=32)
    email: str = Field(max_length=254, index=True)
    display_name: str | None = Field(default=None, max_length=100)
    # Set by auth.participant.*: only participants may create or join teams.
    is_participant: bool = Field(default=False)
    # Set by auth's user events once the account followed a link sent to `email`: only then
    # may it see or answer the invitations addressed to that email.
    email_verified: bool = Field(default=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
