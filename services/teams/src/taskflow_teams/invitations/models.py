"""Invitations: a hashed single-use token bound to one email, with an expiry."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_teams.tables import TeamsTable


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"
    EXPIRED = "expired"  # never stored: a pending invitation past its expiry


class Invitation(TeamsTable, table=True):
    __tablename__ = "invitations"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    team_id: uuid.UUID = Field(foreign_key="teams.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=254, index=True)
    role_id: uuid.UUID = Field(foreign_key="roles.id", ondelete="CASCADE")
    invited_by: uuid.UUID
    token_hash: str = Field(max_length=64, unique=True)
    status: str = Field(default=InvitationStatus.PENDING, max_length=16)
    expires_at: datetime = Field(sa_column=utc_column())
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    responded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    accepted_by: uuid.UUID | None = None

    def status_at(self, now: datetime) -> InvitationStatus:
        if self.status == InvitationStatus.PENDING and self.expires_at <= now:
            return InvitationStatus.EXPIRED
        return InvitationStatus(self.status)
