"""Each security fact an event tells becomes one audit entry (handlers.py maps them).

Auth's events are personal (no team) except an API token restricted to a team; teams'
own events are the team's, with the member who caused them as the actor.
"""

from __future__ import annotations

import uuid
from typing import Any

from taskflow_contracts import auth, teams

from taskflow_teams.audit import service
from taskflow_teams.audit.models import AuditKind
from taskflow_teams.audit.service import Fact
from taskflow_teams.deps import Context

MembershipEvent = (
    teams.MemberJoined | teams.MemberRoleChanged | teams.MemberRemoved | teams.InvitationAccepted
)


async def _by_oneself(context: Context, kind: AuditKind, user_id: uuid.UUID, **fact: Any) -> None:
    """An account's own doing, concerning itself (a reset's actor is whoever held the
    emailed link: the account's owner, as far as anyone can tell)."""
    await service.record(
        context.session, context.event, Fact(kind, actor_id=user_id, subject_id=user_id, **fact)
    )


async def _in_team(
    context: Context,
    kind: AuditKind,
    payload: MembershipEvent,
    actor: uuid.UUID | None,
    **fact: Any,
) -> None:
    """A fact of the team's concerning one member, caused by ``actor``."""
    await service.record(
        context.session,
        context.event,
        Fact(kind, actor_id=actor, subject_id=payload.user_id, team_id=payload.team_id, **fact),
    )


# --- auth ---------------------------------------------------------------------------------


async def on_login_succeeded(payload: auth.LoginSucceeded, context: Context) -> None:
    await _by_oneself(
        context,
        AuditKind.LOGIN_SUCCEEDED,
        payload.user_id,
        address=payload.address,
        user_agent=payload.user_agent,
        details={"username": payload.username},
    )


async def on_login_failed(payload: auth.LoginFailed, context: Context) -> None:
    # Whoever tried is not known: the entry concerns the account the login named, if any.
    fact = Fact(
        AuditKind.LOGIN_FAILED,
        subject_id=payload.user_id,
        address=payload.address,
        details={"login": payload.login[:254], "reason": payload.reason},
    )
    await service.record(context.session, context.event, fact)


async def on_password_changed(payload: auth.PasswordChanged, context: Context) -> None:
    await _by_oneself(
        context,
        AuditKind.PASSWORD_CHANGED,
        payload.user_id,
        address=payload.address,
        details={"how": payload.how},
    )


async def on_email_changed(payload: auth.EmailChanged, context: Context) -> None:
    details = {"old_email": payload.old_email, "new_email": payload.new_email}
    await _by_oneself(context, AuditKind.EMAIL_CHANGED, payload.user_id, details=details)


async def on_api_token_created(payload: auth.ApiTokenCreated, context: Context) -> None:
    await _by_oneself(
        context,
        AuditKind.API_TOKEN_CREATED,
        payload.user_id,
        team_id=await service.team_if_member(context.session, payload.team_id, payload.user_id),
        object_id=payload.token_id,
        details={
            "name": payload.name,
            "scopes": sorted(payload.scopes),
            "expires_at": payload.expires_at.isoformat(),
        },
    )


async def on_api_token_revoked(payload: auth.ApiTokenRevoked, context: Context) -> None:
    team_id = await service.team_of_token(context.session, payload.token_id, payload.user_id)
    await _by_oneself(
        context,
        AuditKind.API_TOKEN_REVOKED,
        payload.user_id,
        team_id=team_id,
        object_id=payload.token_id,
    )


async def on_tokens_revoked(payload: auth.TokensRevoked, context: Context) -> None:
    # Sessions signed out: one (log-out), a family (log-out, a stolen refresh token
    # replayed), or all of the account's (a password change or reset, a deletion). Who
    # asked is not in the event; the token ids are not worth keeping.
    fact = Fact(
        AuditKind.SESSIONS_REVOKED, subject_id=payload.user_id, details={"scope": payload.scope}
    )
    await service.record(context.session, context.event, fact)


# --- teams' own ---------------------------------------------------------------------------


async def on_member_joined(payload: teams.MemberJoined, context: Context) -> None:
    await _in_team(
        context,
        AuditKind.MEMBER_JOINED,
        payload,
        payload.actor_id,
        object_id=payload.role_id,
        details={"role_name": payload.role_name},
    )


async def on_member_role_changed(payload: teams.MemberRoleChanged, context: Context) -> None:
    await _in_team(
        context,
        AuditKind.MEMBER_ROLE_CHANGED,
        payload,
        payload.actor_id,
        object_id=payload.role_id,
        details={
            "role_name": payload.role_name,
            "previous_role_name": payload.previous_role_name,
        },
    )


async def on_member_removed(payload: teams.MemberRemoved, context: Context) -> None:
    left = payload.actor_id == payload.user_id
    await _in_team(
        context, AuditKind.MEMBER_REMOVED, payload, payload.actor_id, details={"left": left}
    )


async def on_invitation_accepted(payload: teams.InvitationAccepted, context: Context) -> None:
    await _in_team(
        context,
        AuditKind.INVITATION_ACCEPTED,
        payload,
        payload.user_id,
        object_id=payload.invitation_id,
        details={"invited_by": payload.invited_by, "role_name": payload.role_name},
    )


async def on_role_updated(payload: teams.RoleUpdated, context: Context) -> None:
    # A role's grants concern whoever holds it, not one member: no subject.
    fact = Fact(
        AuditKind.ROLE_UPDATED,
        actor_id=payload.actor_id,
        team_id=payload.team_id,
        object_id=payload.role_id,
        details={"name": payload.name, "permissions": sorted(payload.permissions)},
    )
    await service.record(context.session, context.event, fact)
