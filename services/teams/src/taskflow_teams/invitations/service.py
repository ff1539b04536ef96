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
from typing import Any, cast

from sqlalchemy import CursorResult, Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.etags import Precondition, lock
from taskflow_chassis.pagination import PageParams, paginate_by_time
from taskflow_chassis.problems import conflict, invalid_field, not_found
from taskflow_chassis.types import table_of
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts import permissions as P
from taskflow_contracts import teams as contract

from taskflow_teams.access import TeamAccess
from taskflow_teams.config import TeamsSettings
from taskflow_teams.invitations import rules
from taskflow_teams.invitations.schemas import InvitationCreate, InvitationRead
from taskflow_teams.replica import service as replica
from taskflow_teams.replica.models import Person
from taskflow_teams.replica.schemas import person_ref
from taskflow_teams.teams.models import Invitation, InvitationStatus, Membership, Role, Team
from taskflow_teams.teams.rules import ensure_within
from taskflow_teams.teams.service import (
    fresh_role,
    held_access,
    hold_team,
    joined_event,
    next_membership_seq,
)

# Pages are keyed on the Core columns (``paginate`` takes column elements).
_invitations = table_of(Invitation)
_invited_by = col(Person.user_id) == col(Invitation.invited_by)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _read(
    invitation: Invitation, team: Team, role: Role, now: datetime, inviter: Person | None
) -> InvitationRead:
    return InvitationRead(
        id=invitation.id,
        team_id=invitation.team_id,
        team_name=team.name,
        email=invitation.email,
        role_id=role.id,
        role_name=role.name,
        invited_by=invitation.invited_by,
        inviter=person_ref(invitation.invited_by, inviter),
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


async def _is_member_by_email(session: AsyncSession, team_id: uuid.UUID, email: str) -> bool:
    query = (
        select(func.count())
        .select_from(Membership)
        .join(Person, col(Person.user_id) == Membership.user_id)
        .where(col(Membership.team_id) == team_id, col(Person.email) == email)
    )
    return bool((await session.execute(query)).scalar_one())


async def _ensure_not_invited(
    session: AsyncSession, team_id: uuid.UUID, email: str, now: datetime
) -> None:
    # A locking read: behind the team's row it sees what the invite before it committed
    # (MariaDB's plain read would answer from the transaction's older snapshot).
    open_invites = await session.execute(
        select(Invitation)
        .where(
            col(Invitation.team_id) == team_id,
            col(Invitation.email) == email,
            col(Invitation.status) == InvitationStatus.PENDING,
        )
        .with_for_update(read=True)
    )
    for existing in open_invites.scalars():
        if existing.status_at(now) == InvitationStatus.PENDING:
            raise conflict(
                "Already invited",
                "A pending invitation exists for this email; resend it instead.",
                type="already-invited",
                field="email",
                invitation_id=str(existing.id),
            )


async def invite(
    uow: UnitOfWork,
    access: TeamAccess,
    data: InvitationCreate,
    settings: TeamsSettings,
    now: datetime,
) -> InvitationRead:
    session = uow.session
    email = data.email.lower()
    # Offering a role is handing it out: in turn with the role's deletion (teams.service).
    await hold_team(session, access.team.id)
    access = await held_access(session, access, P.MEMBERS_INVITE)
    role = await fresh_role(session, data.role_id)
    if role is None or role.team_id != access.team.id:
        raise invalid_field(
            "role_id", "Unknown role", "This team has no role with this id.", type="role-not-found"
        )
    ensure_within(access.permissions, role.permissions)
    if await _is_member_by_email(session, access.team.id, email):
        raise conflict(
            "Already a member",
            "This person is already in the team.",
            type="already-member",
            field="email",
        )
    await _ensure_not_invited(session, access.team.id, email, now)
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
    uow.publish(_sent(contract.InvitationCreated, invitation, access.team, role, settings, token))
    await uow.commit()
    inviter = await uow.session.get(Person, invitation.invited_by)
    return _read(invitation, access.team, role, now, inviter)


async def _page(
    session: AsyncSession, query: Select[*tuple[Any, ...]], page: PageParams
) -> tuple[list[tuple[Any, ...]], str | None]:
    """Newest first."""
    return await paginate_by_time(
        session,
        query,
        page,
        time_column=_invitations.c.created_at,
        id_column=_invitations.c.id,
        descending=True,
    )


async def list_for_team(
    session: AsyncSession,
    access: TeamAccess,
    page: PageParams,
    status: InvitationStatus | None,
    now: datetime,
) -> tuple[list[InvitationRead], str | None]:
    query = (
        select(Invitation, Role, Person)
        .join(Role, col(Role.id) == Invitation.role_id)
        .outerjoin(Person, _invited_by)
        .where(col(Invitation.team_id) == access.team.id)
    )
    pending = col(Invitation.status) == InvitationStatus.PENDING
    if status == InvitationStatus.EXPIRED:
        query = query.where(pending, col(Invitation.expires_at) <= now)
    elif status == InvitationStatus.PENDING:
        query = query.where(pending, col(Invitation.expires_at) > now)
    elif status is not None:
        query = query.where(col(Invitation.status) == status)
    rows, cursor = await _page(session, query, page)
    return [_read(inv, access.team, role, now, who) for inv, role, who in rows], cursor


async def list_mine(
    session: AsyncSession, user_id: uuid.UUID, page: PageParams, now: datetime
) -> tuple[list[InvitationRead], str | None]:
    person = await replica.require_verified_email(session, user_id)
    query = (
        select(Invitation, Team, Role, Person)
        .join(Team, col(Team.id) == Invitation.team_id)
        .join(Role, col(Role.id) == Invitation.role_id)
        .outerjoin(Person, _invited_by)
        .where(
            col(Invitation.email) == person.email,
            col(Invitation.status) == InvitationStatus.PENDING,
            col(Invitation.expires_at) > now,
        )
    )
    rows, cursor = await _page(session, query, page)
    return [_read(inv, team, role, now, who) for inv, team, role, who in rows], cursor


async def _in_team(
    session: AsyncSession, access: TeamAccess, invitation_id: uuid.UUID
) -> tuple[Invitation, Role]:
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None or invitation.team_id != access.team.id:
        raise not_found("Invitation", "This team has no invitation with this id.")
    role = await session.get(Role, invitation.role_id)
    assert role is not None
    # Revoking or resending is managing the offer: only within the caller's own rights,
    # as making it was (a Project Manager must not cancel a Team Leader's invitation).
    ensure_within(access.permissions, role.permissions)
    return invitation, role


async def revoke(
    uow: UnitOfWork,
    access: TeamAccess,
    invitation_id: uuid.UUID,
    now: datetime,
    precondition: Precondition,
) -> None:
    invitation, role = await _in_team(uow.session, access, invitation_id)
    if precondition.tags is not None:
        await lock(uow.session, invitation)
        inviter = await uow.session.get(Person, invitation.invited_by)
        precondition.check(_read(invitation, access.team, role, now, inviter))
    rules.ensure_pending(invitation)
    invitation.status = InvitationStatus.REVOKED
    invitation.responded_at = now
    uow.session.add(invitation)
    uow.publish(contract.InvitationRevoked(invitation_id=invitation.id, team_id=invitation.team_id))
    await uow.commit()


async def resend(
    uow: UnitOfWork,
    access: TeamAccess,
    invitation_id: uuid.UUID,
    settings: TeamsSettings,
    now: datetime,
) -> InvitationRead:
    invitation, role = await _in_team(uow.session, access, invitation_id)
    rules.ensure_pending(invitation)
    token = _new_token(invitation, settings, now)
    uow.session.add(invitation)
    uow.publish(_sent(contract.InvitationResent, invitation, access.team, role, settings, token))
    await uow.commit()
    inviter = await uow.session.get(Person, invitation.invited_by)
    return _read(invitation, access.team, role, now, inviter)


async def _addressed_to_caller(session: AsyncSession, user_id: uuid.UUID, token: str) -> Invitation:
    invitation = (
        await session.execute(select(Invitation).where(col(Invitation.token_hash) == _hash(token)))
    ).scalar_one_or_none()
    if invitation is None:
        raise not_found(
            "Invitation", "This invitation link is unknown or was replaced by a newer one."
        )
    # An address anyone can type in at sign-up proves nothing: it must have followed a link.
    person = await replica.require_verified_email(session, user_id)
    rules.ensure_addressed_to(invitation, person)
    return invitation


async def _claim(
    uow: UnitOfWork,
    invitation: Invitation,
    status: InvitationStatus,
    user_id: uuid.UUID,
    now: datetime,
) -> None:
    claimed = await uow.session.execute(
        update(Invitation)
        .where(
            col(Invitation.id) == invitation.id,
            col(Invitation.status) == InvitationStatus.PENDING,
        )
        .values(
            status=status,
            responded_at=now,
            accepted_by=user_id if status == InvitationStatus.ACCEPTED else None,
        )
    )
    # An UPDATE's result is a CursorResult, which counts the rows it matched.
    if cast(CursorResult[Any], claimed).rowcount != 1:
        await uow.rollback()
        raise conflict(
            "Invitation already used",
            "This invitation was used a moment ago.",
            type="invitation-used",
            field="token",
        )


async def accept(uow: UnitOfWork, user_id: uuid.UUID, token: str, now: datetime) -> InvitationRead:
    session = uow.session
    invitation = await _addressed_to_caller(session, user_id, token)
    await replica.require_participant(session, user_id)
    rules.ensure_open(invitation, now)
    # Joining is a membership change: take the team's next number first (holding its row).
    seq = await next_membership_seq(session, invitation.team_id, include_deleted=True)
    team = await session.get(Team, invitation.team_id)
    role = await fresh_role(session, invitation.role_id)
    assert team is not None and role is not None
    if team.deleted_at is not None:  # deleted (restorable): no one joins it meanwhile
        raise conflict(
            "Team deleted",
            "The team of this invitation was deleted; it can be accepted once it is restored.",
            type="team-deleted",
            field="token",
        )
    if await session.get(Membership, (team.id, user_id)) is not None:
        raise conflict(
            "Already a member",
            "You are already in this team.",
            type="already-member",
            field="token",
        )
    await _claim(uow, invitation, InvitationStatus.ACCEPTED, user_id, now)
    session.add(Membership(team_id=team.id, user_id=user_id, role_id=role.id, joined_at=now))
    uow.publish(
        joined_event(team.id, user_id, role, seq=seq, actor=user_id),
        contract.InvitationAccepted(
            invitation_id=invitation.id,
            team_id=team.id,
            user_id=user_id,
            invited_by=invitation.invited_by,
            role_name=role.name,
        ),
    )
    await uow.commit()
    await session.refresh(invitation)
    inviter = await session.get(Person, invitation.invited_by)
    return _read(invitation, team, role, now, inviter)


async def decline(uow: UnitOfWork, user_id: uuid.UUID, token: str, now: datetime) -> InvitationRead:
    session = uow.session
    invitation = await _addressed_to_caller(session, user_id, token)
    rules.ensure_open(invitation, now)
    await _claim(uow, invitation, InvitationStatus.DECLINED, user_id, now)
    await uow.commit()
    await session.refresh(invitation)
    team = await session.get(Team, invitation.team_id)
    role = await session.get(Role, invitation.role_id)
    assert team is not None and role is not None
    inviter = await session.get(Person, invitation.invited_by)
    return _read(invitation, team, role, now, inviter)
