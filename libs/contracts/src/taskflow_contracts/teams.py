"""Events the teams service publishes (EVENTS.md)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from taskflow_contracts.base import EventPayload


class TeamCreated(EventPayload):
    event_type = "taskflow.teams.team.created.v1"
    team_id: UUID
    name: str
    leader_id: UUID


class TeamUpdated(EventPayload):
    event_type = "taskflow.teams.team.updated.v1"
    team_id: UUID
    name: str


class TeamDeleted(EventPayload):
    event_type = "taskflow.teams.team.deleted.v1"
    team_id: UUID


class MemberJoined(EventPayload):
    event_type = "taskflow.teams.member.joined.v1"
    team_id: UUID
    user_id: UUID
    role_id: UUID
    role_name: str
    permissions: list[str]


class MemberRoleChanged(EventPayload):
    event_type = "taskflow.teams.member.role_changed.v1"
    team_id: UUID
    user_id: UUID
    role_id: UUID
    role_name: str
    permissions: list[str]


class MemberRemoved(EventPayload):
    event_type = "taskflow.teams.member.removed.v1"
    team_id: UUID
    user_id: UUID


class RoleUpdated(EventPayload):
    event_type = "taskflow.teams.role.updated.v1"
    team_id: UUID
    role_id: UUID
    name: str
    permissions: list[str]


class InvitationCreated(EventPayload):
    event_type = "taskflow.teams.invitation.created.v1"
    invitation_id: UUID
    team_id: UUID
    team_name: str
    email: str
    role_name: str
    invited_by: UUID
    accept_url: str
    expires_at: datetime


class InvitationResent(EventPayload):
    """A new link for a pending invitation (the old one is dead): notify emails it again."""

    event_type = "taskflow.teams.invitation.resent.v1"
    invitation_id: UUID
    team_id: UUID
    team_name: str
    email: str
    role_name: str
    invited_by: UUID
    accept_url: str
    expires_at: datetime


class InvitationAccepted(EventPayload):
    event_type = "taskflow.teams.invitation.accepted.v1"
    invitation_id: UUID
    team_id: UUID
    user_id: UUID


class InvitationRevoked(EventPayload):
    event_type = "taskflow.teams.invitation.revoked.v1"
    invitation_id: UUID
    team_id: UUID
