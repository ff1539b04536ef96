"""Teams, their roles (permission sets), memberships, and the invitations that offer them.

Invitations live with the team's other rows: deleting a team or a role clears them too.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_teams.tables import TeamsTable

# How long a deleted team (or project, in work) can be restored before it is purged.
RESTORABLE_FOR = timedelta(days=30)


class Team(TeamsTable, table=True):
    __tablename__ = "teams"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=100)
    description: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_by: uuid.UUID
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    # One more for every membership event (joined, removed, role changed, role updated,
    # team deleted), in the transaction that writes it: replicas apply them in order.
    membership_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Set by DELETE: the team is hidden from every read and write, restorable until
    # RESTORABLE_FOR has passed, then purged (teams/scheduled.py).
    deleted_at: datetime | None = Field(
        default=None, sa_column=utc_column(nullable=True, index=True)
    )


class Role(TeamsTable, table=True):
    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("team_id", "name", name="uq_roles_team_name"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    team_id: uuid.UUID = Field(foreign_key="teams.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=50)
    # Space-separated catalogue strings, sorted: portable across SQLite, PostgreSQL and MySQL.
    permission_list: str = Field(default="", sa_column=Column("permissions", Text, nullable=False))
    is_builtin: bool = Field(default=False)
    # The owner role: holds every permission, never edited or deleted.
    is_leader: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(self.permission_list.split())

    def grant_exactly(self, permissions: frozenset[str] | set[str]) -> None:
        self.permission_list = " ".join(sorted(permissions))


class Membership(TeamsTable, table=True):
    __tablename__ = "memberships"

    team_id: uuid.UUID = Field(foreign_key="teams.id", primary_key=True, ondelete="CASCADE")
    user_id: uuid.UUID = Field(primary_key=True, index=True)
    role_id: uuid.UUID = Field(foreign_key="roles.id", index=True)
    joined_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class InvitationStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    REVOKED = "revoked"
    EXPIRED = "expired"  # never stored: a pending invitation past its expiry


class Invitation(TeamsTable, table=True):
    """An offer of a role, by a hashed single-use token bound to one email, with an expiry."""

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
