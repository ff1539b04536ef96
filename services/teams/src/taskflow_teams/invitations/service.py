"""The invitation lifecycle: invite, resend, revoke, accept, decline, expire.

The token exists only in the invitation email (through the outbox event); the
database keeps its SHA-256. Accepting needs the signed-in owner of the invited
email, verified (the account followed a link sent to it), with a participant
profile, and flips the status in one guarded update so a token works once even
when two requests race.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.pagination import PageParams, paginate_by_time
from taskflow_chassis.problems import ProblemError, invalid_field
from taskflow_contracts import teams as contract

from taskflow_teams import events
from taskflow_teams.access import TeamAccess, ensure_within
from taskflow_teams.config import TeamsSettings
from taskflow_teams.directory import service as directory
from taskflow_teams.directory.models import Person
from taskflow_teams.invitations.models import Invitation, InvitationStatus
from taskflow_teams.invitations.schemas import InvitationCreate, InvitationRead
from taskflow_teams.teams.models import Membership, Role, Team
from taskflow_teams.teams.service import _joined, fresh_role, next_membership_seq


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _read(invitation: Invitation, team: Team, role: Role, now: datetime) -> InvitationRead:
    return InvitationRead(
        id=invitation.id,
        team_id=invitation.team_id,
        team_name=team.name,
        email=invitation.email,
        role_id=role.id,
        role_name=role.name,
        invited_by=invitation.invited_by,
        status=invitation.status_at(now),
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
        responded_at=invitation.responded_at,
    )


def _accept_url(settings: TeamsSettings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}{settings.invitation_accept_path}?token={token}"


def _new_token(invitation: Invitation, settings: TeamsSettings, now: datetime) -> str:
    token = secrets.token_urlsafe(32)
    invitation.token_hash = _hash(token)
    invitation.expires_at = now + timedelta(days=settings.invitation_days)
    return token


async def _is_member_by_email(session: AsyncSession, team_id: uuid.UUID, email: str) -> bool:
    query = (
        select(func.count())
        .select_from(Membership)
        .join(Person, Person.user_id == Membership.user_id)  # type: ignore[arg-type]
        .where(Membership.team_id == team_id, Person.email == email)  # type: ignore[arg-type]
    )
    return bool((await session.execute(query)).scalar_one())


async def invite(
    session: AsyncSession,
    access: TeamAccess,
    data: InvitationCreate,
    settings: TeamsSettings,
    now: datetime,
) -> InvitationRead:
    email = data.email.lower()
    role = await session.get(Role, data.role_id)
    if role is None or role.team_id != access.team.id:
        raise invalid_field(
            "role_id", "Unknown role", "This team has no role with this id.", type="role-not-found"
        )
    ensure_within(access, role.permissions)
    if await _is_member_by_email(session, access.team.id, email):
        raise ProblemError(
            409, "Already a member", "This person is already in the team.", type="already-member"
        )
    open_invites = await session.execute(
        select(Invitation).where(
            Invitation.team_id == access.team.id,  # type: ignore[arg-type]
            Invitation.email == email,  # type: ignore[arg-type]
            Invitation.status == InvitationStatus.PENDING,  # type: ignore[arg-type]
        )
    )
    for existing in open_invites.scalars():
        if existing.status_at(now) == InvitationStatus.PENDING:
            raise ProblemError(
                409,
                "Already invited",
                "A pending invitation exists for this email; resend it instead.",
                type="already-invited",
                invitation_id=str(existing.id),
            )
    invitation = Invitation(
        team_id=access.team.id,
        email=email,
        role_id=role.id,
        invited_by=access.user_id,
        token_hash="",
        expires_at=now,
        created_at=now,
    )
    token = _new_token(invitation, settings, now)
    session.add(invitation)
    await events.publish(
        session, _sent(contract.InvitationCreated, invitation, access.team, role, settings, token)
    )
    await session.commit()
    return _read(invitation, access.team, role, now)


def _sent(
    kind: type[contract.InvitationCreated] | type[contract.InvitationResent],
    invitation: Invitation,
    team: Team,
    role: Role,
    settings: TeamsSettings,
    token: str,
) -> contract.InvitationCreated | contract.InvitationResent:
    return kind(
        invitation_id=invitation.id,
        team_id=team.id,
        team_name=team.name,
        email=invitation.email,
        role_name=role.name,
        invited_by=invitation.invited_by,
        accept_url=_accept_url(settings, token),
        expires_at=invitation.expires_at,
    )


async def list_for_team(
    session: AsyncSession,
    access: TeamAccess,
    page: PageParams,
    status: InvitationStatus | None,
    now: datetime,
) -> tuple[list[InvitationRead], str | None]:
    query = (
        select(Invitation, Role)
        .join(Role, Role.id == Invitation.role_id)  # type: ignore[arg-type]
        .where(Invitation.team_id == access.team.id)  # type: ignore[arg-type]
    )
    if status == InvitationStatus.EXPIRED:
        query = query.where(
            Invitation.status == InvitationStatus.PENDING, Invitation.expires_at <= now
        )  # type: ignore[arg-type,operator]
    elif status == InvitationStatus.PENDING:
        query = query.where(
            Invitation.status == InvitationStatus.PENDING, Invitation.expires_at > now
        )  # type: ignore[arg-type,operator]
    elif status is not None:
        query = query.where(Invitation.status == status)  # type: ignore[arg-type]
    rows, cursor = await paginate_by_time(
        session,
        query,
        page,
        time_column=Invitation.created_at,
        id_column=Invitation.id,
        descending=True,  # type: ignore[arg-type]
    )
    return [_read(inv, access.team, role, now) for inv, role in rows], cursor


async def list_mine(
    session: AsyncSession, user_id: uuid.UUID, page: PageParams, now: datetime
) -> tuple[list[InvitationRead], str | None]:
    person = await directory.require_verified_email(session, user_id)
    query = (
        select(Invitation, Team, Role)
        .join(Team, Team.id == Invitation.team_id)  # type: ignore[arg-type]
        .join(Role, Role.id == Invitation.role_id)  # type: ignore[arg-type]
        .where(
            Invitation.email == person.email,  # type: ignore[arg-type]
            Invitation.status == InvitationStatus.PENDING,  # type: ignore[arg-type]
            Invitation.expires_at > now,  # type: ignore[arg-type,operator]
        )
    )
    rows, cursor = await paginate_by_time(
        session,
        query,
        page,
        time_column=Invitation.created_at,
        id_column=Invitation.id,
        descending=True,  # type: ignore[arg-type]
    )
    return [_read(inv, team, role, now) for inv, team, role in rows], cursor


async def _in_team(
    session: AsyncSession, access: TeamAccess, invitation_id: uuid.UUID
) -> tuple[Invitation, Role]:
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.team_id != access.team.id:
        raise ProblemError(
            404,
            "Invitation not found",
            "This team has no invitation with this id.",
            type="invitation-not-found",
        )
    role = await session.get(Role, invitation.role_id)
    assert role is not None
    # Revoking or resending is managing the offer: only within the caller's own rights,
    # as making it was (a Project Manager must not cancel a Team Leader's invitation).
    ensure_within(access, role.permissions)
    return invitation, role


def _not_open(status: InvitationStatus) -> ProblemError:
    return ProblemError(
        409,
        f"Invitation {status.value}",
        f"This invitation was already {status.value}.",
        type=f"invitation-{status.value}",
    )


async def revoke(
    session: AsyncSession, access: TeamAccess, invitation_id: uuid.UUID, now: datetime
) -> None:
    invitation, _ = await _in_team(session, access, invitation_id)
    if invitation.status != InvitationStatus.PENDING:
        raise _not_open(InvitationStatus(invitation.status))
    invitation.status = InvitationStatus.REVOKED
    invitation.responded_at = now
    session.add(invitation)
    await events.publish(
        session, contract.InvitationRevoked(invitation_id=invitation.id, team_id=invitation.team_id)
    )
    await session.commit()


async def resend(
    session: AsyncSession,
    access: TeamAccess,
    invitation_id: uuid.UUID,
    settings: TeamsSettings,
    now: datetime,
) -> InvitationRead:
    invitation, role = await _in_team(session, access, invitation_id)
    if invitation.status != InvitationStatus.PENDING:  # pending, or pending but expired
        raise _not_open(InvitationStatus(invitation.status))
    token = _new_token(invitation, settings, now)
    session.add(invitation)
    await events.publish(
        session, _sent(contract.InvitationResent, invitation, access.team, role, settings, token)
    )
    await session.commit()
    return _read(invitation, access.team, role, now)


async def _addressed_to_caller(
    session: AsyncSession, user_id: uuid.UUID, token: str
) -> tuple[Invitation, Person]:
    invitation = (
        await session.execute(select(Invitation).where(Invitation.token_hash == _hash(token)))  # type: ignore[arg-type]
    ).scalar_one_or_none()
    if invitation is None:
        raise ProblemError(
            404,
            "Invitation not found",
            "This invitation link is unknown or was replaced by a newer one.",
            type="invitation-not-found",
        )
    # An address anyone can type in at sign-up proves nothing: it must have followed a link.
    person = await directory.require_verified_email(session, user_id)
    if person.email != invitation.email:
        raise ProblemError(
            403,
            "Invitation for another email",
            "This invitation was sent to a different email address than your account's.",
            type="invitation-wrong-recipient",
        )
    return invitation, person


def _check_open(invitation: Invitation, now: datetime) -> None:
    status = invitation.status_at(now)
    if status == InvitationStatus.EXPIRED:
        raise ProblemError(
            410,
            "Invitation expired",
            "Ask the team to resend the invitation.",
            type="invitation-expired",
        )
    if status != InvitationStatus.PENDING:
        raise _not_open(status)


async def _claim(
    session: AsyncSession,
    invitation: Invitation,
    status: InvitationStatus,
    user_id: uuid.UUID,
    now: datetime,
) -> None:
    claimed = await session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.status == InvitationStatus.PENDING)  # type: ignore[arg-type]
        .values(
            status=status,
            responded_at=now,
            accepted_by=user_id if status == InvitationStatus.ACCEPTED else None,
        )
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise ProblemError(
            409,
            "Invitation already used",
            "This invitation was used a moment ago.",
            type="invitation-used",
        )


async def accept(
    session: AsyncSession, user_id: uuid.UUID, token: str, now: datetime
) -> InvitationRead:
    invitation, _ = await _addressed_to_caller(session, user_id, token)
    await directory.require_participant(session, user_id)
    _check_open(invitation, now)
    # Joining is a membership change: take the team's next number first (holding its row).
    seq = await next_membership_seq(session, invitation.team_id)
    team = await session.get(Team, invitation.team_id)
    role = await fresh_role(session, invitation.role_id)
    assert team is not None and role is not None
    if await session.get(Membership, (team.id, user_id)) is not None:
        raise ProblemError(
            409, "Already a member", "You are already in this team.", type="already-member"
        )
    await _claim(session, invitation, InvitationStatus.ACCEPTED, user_id, now)
    session.add(Membership(team_id=team.id, user_id=user_id, role_id=role.id, joined_at=now))
    await events.publish(session, _joined(team.id, user_id, role, seq=seq))
    await events.publish(
        session,
        contract.InvitationAccepted(invitation_id=invitation.id, team_id=team.id, user_id=user_id),
    )
    await session.commit()
    await session.refresh(invitation)
    return _read(invitation, team, role, now)


async def decline(
    session: AsyncSession, user_id: uuid.UUID, token: str, now: datetime
) -> InvitationRead:
    invitation, _ = await _addressed_to_caller(session, user_id, token)
    _check_open(invitation, now)
    await _claim(session, invitation, InvitationStatus.DECLINED, user_id, now)
    await session.commit()
    await session.refresh(invitation)
    team = await session.get(Team, invitation.team_id)
    role = await session.get(Role, invitation.role_id)
    assert team is not None and role is not None
    return _read(invitation, team, role, now)
