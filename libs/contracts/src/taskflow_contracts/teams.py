"""Events the teams service publishes (docs/events.md).

Membership events (who is in a team, with which role and permissions) carry
``team_seq``: the team's membership sequence number, incremented by teams in the
transaction that writes the event, once per event. A consumer applies them in
that order per team, ignores one it has already passed, and resyncs the team
from teams when it sees a gap. ``None`` on events published before the field
existed (added in place: the type names stay v1, readers tolerate either).

Membership and role events, and ``invitation.accepted``, say who caused them: ``actor_id``
(``invited_by`` on an acceptance, whose actor is the accepting ``user_id``), for the
security audit log. Null for what no person did (an account's deletion, leadership
passed on) and on events from before the fields existed (added in place, as
``team_seq`` was).
"""

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


class TeamDeletedV1(EventPayload):
    """No longer published (read as TeamPurged): until issue 18 a team's deletion erased it
    at once, and consumers erase what they hold of it. Kept so an event of this type still
    in flight, parked or replayed is read as it was meant."""

    event_type = "taskflow.teams.team.deleted.v1"
    team_id: UUID
    team_seq: int | None = None


class TeamDeleted(EventPayload):
    """The team was deleted, softly: hidden from every read and write, restorable by
    whoever could delete it until ``purge_after``, when TeamPurged follows (unless
    TeamRestored came first). Consumers hide what they hold of it; they erase nothing.
    v2: v1 meant erased for good (now TeamPurged)."""

    event_type = "taskflow.teams.team.deleted.v2"
    team_id: UUID
    deleted_at: datetime
    purge_after: datetime
    team_seq: int | None = None


class TeamRestored(EventPayload):
    """A deleted team is back, with its members, roles and invitations as they were."""

    event_type = "taskflow.teams.team.restored.v1"
    team_id: UUID
    name: str
    team_seq: int | None = None


class TeamPurged(EventPayload):
    """The team is gone for good (deleted and not restored in time, or left by its last
    member): consumers erase what they hold of it."""

    event_type = "taskflow.teams.team.purged.v1"
    team_id: UUID
    team_seq: int | None = None


class MemberJoined(EventPayload):
    event_type = "taskflow.teams.member.joined.v1"
    team_id: UUID
    user_id: UUID
    role_id: UUID
    role_name: str
    permissions: list[str]
    team_seq: int | None = None
    actor_id: UUID | None = None


class MemberRoleChanged(EventPayload):
    event_type = "taskflow.teams.member.role_changed.v1"
    team_id: UUID
    user_id: UUID
    role_id: UUID
    role_name: str
    permissions: list[str]
    team_seq: int | None = None
    actor_id: UUID | None = None
    # The role the member held before (null on older events and where not known).
    previous_role_name: str | None = None


class MemberRemoved(EventPayload):
    event_type = "taskflow.teams.member.removed.v1"
    team_id: UUID
    user_id: UUID
    team_seq: int | None = None
    # The member themselves when they left; another member who removed them.
    actor_id: UUID | None = None


class RoleUpdated(EventPayload):
    event_type = "taskflow.teams.role.updated.v1"
    team_id: UUID
    role_id: UUID
    name: str
    permissions: list[str]
    team_seq: int | None = None
    actor_id: UUID | None = None


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
    invited_by: UUID | None = None
    role_name: str | None = None


class InvitationRevoked(EventPayload):
    event_type = "taskflow.teams.invitation.revoked.v1"
    invitation_id: UUID
    team_id: UUID
