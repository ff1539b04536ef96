"""The security audit log: one entry per security fact, each from one event.

Entries come from auth's events (log-ins, failed log-ins, password and email changes, API
tokens, sessions signed out) and teams' own (members joining, leaving, changing role, roles
edited, invitations accepted), through the one handler map (``handlers.py``). The event's
id is kept, unique: a redelivered or replayed event records nothing twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, Text
from sqlmodel import Field
from taskflow_chassis.types import utc_column

from taskflow_teams.tables import TeamsTable


class AuditKind(StrEnum):
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    PASSWORD_CHANGED = "password.changed"
    EMAIL_CHANGED = "email.changed"
    API_TOKEN_CREATED = "api_token.created"
    API_TOKEN_REVOKED = "api_token.revoked"
    SESSIONS_REVOKED = "sessions.revoked"
    MEMBER_JOINED = "member.joined"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    ROLE_UPDATED = "role.updated"
    INVITATION_ACCEPTED = "invitation.accepted"


# What a stored address and user agent are cut to (an IPv6 address with a zone fits).
ADDRESS_LENGTH = 64
USER_AGENT_LENGTH = 300


class AuditEntry(TeamsTable, table=True):
    __tablename__ = "audit_entries"
    # The three logs a page reads, newest first: a person's (as actor or as subject) and a
    # team's; the purge reads by age alone.
    __table_args__ = (
        Index("ix_audit_entries_subject", "subject_id", "occurred_at", "id"),
        Index("ix_audit_entries_actor", "actor_id", "occurred_at", "id"),
        Index("ix_audit_entries_team", "team_id", "occurred_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # The event the entry was recorded from: one entry per event.
    event_id: str = Field(max_length=36, unique=True)
    occurred_at: datetime = Field(sa_column=utc_column(index=True))
    kind: str = Field(max_length=32)
    # Who did it (null when unknown: a failed log-in, what no person did).
    actor_id: uuid.UUID | None = None
    # Whom it concerns (null when no account is known: a failed log-in naming none).
    subject_id: uuid.UUID | None = None
    # The team it happened in (null for personal entries).
    team_id: uuid.UUID | None = None
    # What it acted on, where that has an id: an API token, a role, an invitation.
    object_id: uuid.UUID | None = None
    address: str | None = Field(default=None, max_length=ADDRESS_LENGTH)
    user_agent: str | None = Field(default=None, max_length=USER_AGENT_LENGTH)
    # JSON object: what else the event said that a reader needs (role names, token scopes).
    details_json: str = Field(default="{}", sa_column=Column("details", Text, nullable=False))
