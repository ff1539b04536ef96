"""Events the auth service publishes (EVENTS.md)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from taskflow_contracts.base import EventPayload


class UserRegistered(EventPayload):
    event_type = "taskflow.auth.user.registered.v1"
    user_id: UUID
    username: str
    email: str


class UserUpdated(EventPayload):
    event_type = "taskflow.auth.user.updated.v1"
    user_id: UUID
    username: str
    email: str


class UserDeleted(EventPayload):
    event_type = "taskflow.auth.user.deleted.v1"
    user_id: UUID


class ParticipantRegistered(EventPayload):
    event_type = "taskflow.auth.participant.registered.v1"
    user_id: UUID
    username: str
    email: str
    display_name: str | None
    phone_number: str


class ParticipantUpdated(EventPayload):
    event_type = "taskflow.auth.participant.updated.v1"
    user_id: UUID
    username: str
    email: str
    display_name: str | None
    phone_number: str


class PasswordResetRequested(EventPayload):
    event_type = "taskflow.auth.password_reset.requested.v1"
    user_id: UUID
    email: str
    reset_url: str
    expires_at: datetime
