"""Events the auth service publishes (docs/events.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from taskflow_contracts.base import EventPayload


class UserRegistered(EventPayload):
    event_type = "taskflow.auth.user.registered.v1"
    user_id: UUID
    username: str
    email: str
    # Whether the account proved it receives mail at `email`. Absent (None) in events
    # from before it existed: readers keep what they knew.
    email_verified: bool | None = None


class UserUpdated(EventPayload):
    event_type = "taskflow.auth.user.updated.v1"
    user_id: UUID
    username: str
    email: str
    email_verified: bool | None = None


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


class EmailVerificationRequested(EventPayload):
    """A link that proves the account receives mail at `email` (sign-up or resend)."""

    event_type = "taskflow.auth.email_verification.requested.v1"
    user_id: UUID
    email: str
    verify_url: str
    expires_at: datetime


class EmailChangeRequested(EventPayload):
    """The link goes to `new_email`; `old_email` is told, in case it was not its owner."""

    event_type = "taskflow.auth.email_change.requested.v1"
    user_id: UUID
    old_email: str
    new_email: str
    confirm_url: str
    expires_at: datetime


class TokensRevoked(EventPayload):
    """Tokens every service must refuse from now on: one access token (log-out), a refresh
    family's (log-out, a reused refresh token; access tokens carry it as `fam`), or a
    user's (password change or reset: `ver` below `min_version`; deletion: all). Nothing
    it covers is valid after `expires_at`, so receivers may forget it then."""

    event_type = "taskflow.auth.tokens.revoked.v1"
    scope: Literal["token", "family", "user"]
    # token: the access token's jti; family: the family id; user: the user id.
    key: str
    user_id: UUID
    min_version: int | None = None
    expires_at: datetime


# --- security facts (issue 21): the audit log in teams records each of these ---------------


class LoginSucceeded(EventPayload):
    """A log-in with the right password; ``address`` and ``user_agent`` as auth saw them."""

    event_type = "taskflow.auth.login.succeeded.v1"
    user_id: UUID
    username: str
    address: str | None = None
    user_agent: str | None = None


class LoginFailed(EventPayload):
    """A refused log-in: ``login`` is the username or email tried (empty when it names no
    account: what was typed may be a password in the wrong field), ``user_id`` the account
    it names (null when it names none), ``reason`` why it was refused."""

    event_type = "taskflow.auth.login.failed.v1"
    login: str
    user_id: UUID | None = None
    address: str | None = None
    reason: str


class PasswordChanged(EventPayload):
    """``how``: "changed" (by the signed-in owner) or "reset" (by an emailed link)."""

    event_type = "taskflow.auth.password.changed.v1"
    user_id: UUID
    how: str
    address: str | None = None


class EmailChanged(EventPayload):
    """The account's address is ``new_email`` now (the link sent to it was followed)."""

    event_type = "taskflow.auth.email.changed.v1"
    user_id: UUID
    old_email: str
    new_email: str


class ApiTokenCreated(EventPayload):
    """A personal API token was issued (its secret is never in an event)."""

    event_type = "taskflow.auth.api_token.created.v1"
    token_id: UUID
    user_id: UUID
    name: str
    scopes: list[str]
    team_id: UUID | None = None
    expires_at: datetime


class ApiTokenRevoked(EventPayload):
    event_type = "taskflow.auth.api_token.revoked.v1"
    token_id: UUID
    user_id: UUID
