"""Teams, members and roles: each change one unit of work, its events staged with it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.etags import Precondition
from taskflow_chassis.problems import ProblemError, conflict, invalid_field, not_found
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts import permissions as P
from taskflow_contracts import teams as contract

from taskflow_teams.access import TeamAccess, load_access, team_not_found
from taskflow_teams.replica import service as replica
from taskflow_teams.replica.models import Person
from taskflow_teams.teams import rules
from taskflow_teams.teams.models import (
    RESTORABLE_FOR,
    Invitation,
    InvitationStatus,
    Membership,
    Role,
    Team,
)
from taskflow_teams.teams.queries import member_read, role_read, team_read
from taskflow_teams.teams.schemas import (
    MemberRead,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)

# --- the membership sequence --------------------------------------------------------------

_teams = table_of(Team)


async def hold_membership_seq(
    session: AsyncSession, team_id: uuid.UUID, *, include_deleted: bool = False
) -> int | None:
    """Take the team's next membership sequence number (``None``: no such team, or, unless
    ``include_deleted``, a team deleted meanwhile: a change that loaded the team before
    its deletion committed finds it gone here, under the row's lock).

    Called first in every change that writes a membership event, before anything the
    event carries is read: the UPDATE holds the team's row until commit, so two changes
    to one team's memberships run one after the other, in the order of their numbers,
    and the second reads what the first committed. A plain UPDATE then a read (MariaDB
    has no UPDATE ... RETURNING); the Core table, so no ORM object is touched.
    """
    if not await _hold_team_row(session, team_id, include_deleted=include_deleted, step=1):
        return None
    seq = await session.execute(select(_teams.c.membership_seq).where(_teams.c.id == team_id))
    return int(seq.scalar_one())


async def hold_team(session: AsyncSession, team_id: uuid.UUID) -> None:
    """Hold the team's row as ``next_membership_seq`` does, without taking a number: for a
    change that writes no membership event yet must take its turn with those that do (a
    role deleted, or offered by an invitation, against the role handed out meanwhile).
    Each number is one event's; one taken and committed without its event would be a gap,
    which consumers answer by distrusting the team until they resync it."""
    if not await _hold_team_row(session, team_id, include_deleted=False, step=0):
        raise team_not_found()


async def _hold_team_row(
    session: AsyncSession, team_id: uuid.UUID, *, include_deleted: bool, step: int
) -> bool:
    live = _teams.c.id == team_id
    if not include_deleted:
        live = live & _teams.c.deleted_at.is_(None)
    held = await session.execute(
        update(_teams).where(live).values(membership_seq=_teams.c.membership_seq + step)
    )
    # An UPDATE's result is a CursorResult, which counts the rows it matched.
    return cast(CursorResult[Any], held).rowcount == 1


async def next_membership_seq(
    session: AsyncSession, team_id: uuid.UUID, *, include_deleted: bool = False
) -> int:
    seq = await hold_membership_seq(session, team_id, include_deleted=include_deleted)
    if seq is None:
        raise team_not_found()
    return seq


async def held_access(
    session: AsyncSession, access: TeamAccess, permission: str | None = None
) -> TeamAccess:
    """The caller's access read again once the team's row is held: the one checked on the
    way in may predate a change committed while this request waited for the row (a
    leader demoted, or gone, by the other of two requests fired together)."""
    row = (
        await session.execute(
            select(Membership, Role)
            .join(Role, col(Role.id) == Membership.role_id)
            .where(
                col(Membership.team_id) == access.team.id,
                col(Membership.user_id) == access.user_id,
            )
            .with_for_update(read=True)
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise team_not_found()
    fresh = TeamAccess(
        team=access.team,
        membership=row[0],
        role=row[1],
        user_id=access.user_id,
        claims=access.claims,
    )
    fresh.ensure_can(permission)
    return fresh


async def fresh_role(session: AsyncSession, role_id: uuid.UUID) -> Role | None:
    """The role as committed now, not as this session first saw it: what an event carries
    must be the state at its sequence number (a locking read, so MariaDB's snapshot of
    the transaction's first read does not apply either)."""
    query = (
        select(Role)
        .where(col(Role.id) == role_id)
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


def joined_event(
    team_id: uuid.UUID, user_id: uuid.UUID, role: Role, *, seq: int, actor: uuid.UUID | None
) -> contract.MemberJoined:
    return contract.MemberJoined(
        team_id=team_id,
        user_id=user_id,
        role_id=role.id,
        role_name=role.name,
        permissions=sorted(role.permissions),
        team_seq=seq,
        actor_id=actor,
    )


def _role_changed(
    team_id: uuid.UUID,
    user_id: uuid.UUID,
    role: Role,
    *,
    seq: int,
    actor: uuid.UUID | None,
    previous: Role | None,
) -> contract.MemberRoleChanged:
    return contract.MemberRoleChanged(
        team_id=team_id,
        user_id=user_id,
        role_id=role.id,
        role_name=role.name,
        permissions=sorted(role.permissions),
        team_seq=seq,
        actor_id=actor,
        previous_role_name=previous.name if previous else None,
    )


def _role_updated(role: Role, seq: int, actor: uuid.UUID) -> contract.RoleUpdated:
    return contract.RoleUpdated(
        team_id=role.team_id,
        role_id=role.id,
        name=role.name,
        permissions=sorted(role.permissions),
        team_seq=seq,
        actor_id=actor,
    )


# --- teams --------------------------------------------------------------------------------


async def create_team(uow: UnitOfWork, user_id: uuid.UUID, data: TeamCreate) -> TeamRead:
    session = uow.session
    founder = await replica.require_participant(session, user_id)
    # A new team's only membership event so far is its leader joining: number 1.
    team = Team(
        name=data.name,
        description=data.description,
        created_by=founder.user_id,
        membership_seq=1,
    )
    session.add(team)
    # No ORM relationships here, so flush in foreign-key order ourselves.
    await session.flush()
    roles = []
    for name, grants in P.BUILT_IN_ROLES.items():
        role = Role(team_id=team.id, name=name, is_builtin=True, is_leader=name == P.TEAM_LEADER)
        role.grant_exactly(grants)
        roles.append(role)
    session.add_all(roles)
    await session.flush()
    leader = next(r for r in roles if r.is_leader)
    session.add(Membership(team_id=team.id, user_id=founder.user_id, role_id=leader.id))
    uow.publish(
        contract.TeamCreated(team_id=team.id, name=team.name, leader_id=founder.user_id),
        joined_event(team.id, founder.user_id, leader, seq=1, actor=founder.user_id),
    )
    await uow.commit()
    return team_read(team, leader)


async def update_team(uow: UnitOfWork, access: TeamAccess, data: TeamUpdate) -> TeamRead:
    team = access.team
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name") is None:
        changes.pop("name", None)
    for field, value in changes.items():
        setattr(team, field, value)
    team.updated_at = utcnow()
    uow.session.add(team)
    uow.publish(contract.TeamUpdated(team_id=team.id, name=team.name))
    await uow.commit()
    return team_read(team, access.role)


async def delete_team(uow: UnitOfWork, access: TeamAccess, now: datetime) -> None:
    """A soft delete: the team is hidden until restored, or purged after RESTORABLE_FOR."""
    team = access.team
    seq = await next_membership_seq(uow.session, team.id)
    await held_access(uow.session, access, P.TEAM_DELETE)
    team.deleted_at = now
    uow.session.add(team)
    uow.publish(
        contract.TeamDeleted(
            team_id=team.id, deleted_at=now, purge_after=now + RESTORABLE_FOR, team_seq=seq
        )
    )
    await uow.commit()


async def restore_team(
    uow: UnitOfWork, team_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> TeamRead:
    """A deleted team back as it was, to a member who may delete it (``team.delete``); a
    team not deleted is answered as it is (a retried restore)."""
    session = uow.session
    access = await load_access(session, team_id, user_id, deleted=True)
    access.ensure_can(P.TEAM_DELETE)
    team = access.team
    if team.deleted_at is None:
        return team_read(team, access.role)
    seq = await next_membership_seq(session, team.id, include_deleted=True)
    access = await held_access(session, access, P.TEAM_DELETE)
    await session.refresh(team)
    if team.deleted_at is None or team.deleted_at + RESTORABLE_FOR <= now:
        raise team_not_found()  # restored meanwhile (a retry answers it) or due for purge
    team.deleted_at = None
    team.updated_at = now
    session.add(team)
    uow.publish(contract.TeamRestored(team_id=team.id, name=team.name, team_seq=seq))
    await uow.commit()
    return team_read(team, access.role)


async def purge_team(uow: UnitOfWork, team_id: uuid.UUID, deleted_before: datetime) -> bool:
    """Erase a team deleted before ``deleted_before`` (and not restored meanwhile), its
    rows and TeamPurged in one transaction: whether it was."""
    session = uow.session
    seq = await hold_membership_seq(session, team_id, include_deleted=True)
    if seq is None:
        return False
    deleted_at = (
        await session.execute(select(_teams.c.deleted_at).where(_teams.c.id == team_id))
    ).scalar_one()
    if deleted_at is None or deleted_at > deleted_before:
        await uow.rollback()
        return False
    await _delete_team_rows(session, team_id)
    uow.publish(contract.TeamPurged(team_id=team_id, team_seq=seq))
    await uow.commit()
    return True


async def _delete_team_rows(session: AsyncSession, team_id: uuid.UUID) -> None:
    # Explicit deletes in dependency order: no reliance on each database's cascade support.
    await session.execute(delete(Invitation).where(col(Invitation.team_id) == team_id))
    await session.execute(delete(Membership).where(col(Membership.team_id) == team_id))
    await session.execute(delete(Role).where(col(Role.team_id) == team_id))
    await session.execute(delete(Team).where(col(Team.id) == team_id))


# --- members ------------------------------------------------------------------------------


async def _target(
    session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[Membership, Role]:
    row = (
        await session.execute(
            select(Membership, Role)
            .join(Role, col(Role.id) == Membership.role_id)
            .where(col(Membership.team_id) == team_id, col(Membership.user_id) == user_id)
            # The row as committed now (MariaDB's plain reads see the transaction's
            # first snapshot, which may predate the change this request waited for).
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise not_found("Member", "This user is not a member of the team.")
    return row[0], row[1]


async def count_leaders(session: AsyncSession, team_id: uuid.UUID) -> int:
    """Leaders as committed now: a locking read (an aggregate cannot take row locks, so
    the rows are counted here), which MariaDB answers from the latest rows, not from the
    transaction's snapshot."""
    leaders = await session.execute(
        select(col(Membership.user_id))
        .join(Role, col(Role.id) == Membership.role_id)
        .where(col(Membership.team_id) == team_id, col(Role.is_leader).is_(True))
        .with_for_update(read=True)
    )
    return len(leaders.all())


async def _member_as_shown(
    session: AsyncSession, membership: Membership, role: Role, precondition: Precondition
) -> None:
    """412 unless If-Match names the member (held by ``_target``) as GET shows them."""
    if precondition.tags is not None:
        person = await session.get(Person, membership.user_id)
        precondition.check(member_read(membership, role, person))


async def change_member_role(
    uow: UnitOfWork,
    access: TeamAccess,
    user_id: uuid.UUID,
    role_id: uuid.UUID,
    precondition: Precondition,
) -> MemberRead:
    session = uow.session
    seq = await next_membership_seq(session, access.team.id)
    access = await held_access(session, access, P.MEMBERS_MANAGE)
    membership, current = await _target(session, access.team.id, user_id)
    await _member_as_shown(session, membership, current, precondition)
    role = await fresh_role(session, role_id)
    if role is None or role.team_id != access.team.id:
        raise invalid_field(
            "role_id", "Unknown role", "This team has no role with this id.", type="role-not-found"
        )
    # Neither hand out nor take away a role stronger than your own.
    rules.ensure_within(access.permissions, role.permissions | current.permissions)
    if rules.steps_down(current, role):
        rules.ensure_another_leader(await count_leaders(session, access.team.id))
    if role.id != current.id:
        membership.role_id = role.id
        session.add(membership)
        uow.publish(
            _role_changed(
                access.team.id, user_id, role, seq=seq, actor=access.user_id, previous=current
            )
        )
        await uow.commit()
    # Otherwise nothing changed: the request's session ends without a commit, and the
    # number taken goes back.
    person = await session.get(Person, user_id)
    return member_read(membership, role, person)


async def remove_member(
    uow: UnitOfWork,
    access: TeamAccess,
    user_id: uuid.UUID,
    permission: str | None,
    precondition: Precondition,
) -> None:
    """``permission``: what removing this member needs (``rules.permission_to_remove``),
    checked on the way in and again once the team's row is held."""
    session = uow.session
    seq = await next_membership_seq(session, access.team.id)
    access = await held_access(session, access, permission)
    membership, role = await _target(session, access.team.id, user_id)
    await _member_as_shown(session, membership, role, precondition)
    if user_id != access.user_id:
        rules.ensure_within(access.permissions, role.permissions)
    if role.is_leader:
        rules.ensure_another_leader(await count_leaders(session, access.team.id))
    await session.delete(membership)
    uow.publish(
        contract.MemberRemoved(
            team_id=access.team.id, user_id=user_id, team_seq=seq, actor_id=access.user_id
        )
    )
    await uow.commit()


async def forget_user(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    """A deleted account leaves its teams; a leaderless team gets its longest member as leader."""
    session = uow.session
    rows = (
        await session.execute(
            select(Membership, Role)
            .join(Role, col(Role.id) == Membership.role_id)
            .where(col(Membership.user_id) == user_id)
        )
    ).all()
    for membership, role in rows:
        team_id = membership.team_id
        seq = await hold_membership_seq(session, team_id, include_deleted=True)
        if seq is None:
            continue  # the team went meanwhile, its memberships with it
        await session.delete(membership)
        await session.flush()
        uow.publish(contract.MemberRemoved(team_id=team_id, user_id=user_id, team_seq=seq))
        if role.is_leader and await count_leaders(session, team_id) == 0:
            await _pass_leadership(uow, team_id, role)


async def _pass_leadership(uow: UnitOfWork, team_id: uuid.UUID, role: Role) -> None:
    """The team's longest member leads it now; a team nobody is left in goes."""
    session = uow.session
    successor = (
        await session.execute(
            select(Membership)
            .where(col(Membership.team_id) == team_id)
            .order_by(col(Membership.joined_at))
            .limit(1)
        )
    ).scalar_one_or_none()
    seq = await next_membership_seq(session, team_id, include_deleted=True)
    if successor is None:
        # Nobody is left who could restore it: gone at once.
        await _delete_team_rows(session, team_id)
        uow.publish(contract.TeamPurged(team_id=team_id, team_seq=seq))
        return
    previous = await session.get(Role, successor.role_id)
    successor.role_id = role.id
    session.add(successor)
    uow.publish(
        _role_changed(team_id, successor.user_id, role, seq=seq, actor=None, previous=previous)
    )


# --- roles --------------------------------------------------------------------------------


def _role_not_found() -> ProblemError:
    return not_found("Role", "This team has no role with this id.")


def _role_name_taken() -> ProblemError:
    return conflict(
        "Role name taken",
        "This team already has a role with this name.",
        type="role-name-taken",
        field="name",
    )


async def _name_free(
    session: AsyncSession, team_id: uuid.UUID, name: str, exclude: uuid.UUID | None
) -> None:
    query = select(col(Role.id)).where(
        col(Role.team_id) == team_id, func.lower(Role.name) == name.lower()
    )
    if exclude:
        query = query.where(col(Role.id) != exclude)
    if (await session.execute(query)).first():
        raise _role_name_taken()


async def _commit_role(uow: UnitOfWork) -> None:
    try:
        await uow.commit()
    except IntegrityError as exc:
        await uow.rollback()
        raise _role_name_taken() from exc


async def create_role(uow: UnitOfWork, access: TeamAccess, data: RoleCreate) -> RoleRead:
    session = uow.session
    rules.ensure_within(access.permissions, data.permissions)
    seq = await next_membership_seq(session, access.team.id)
    access = await held_access(session, access, P.ROLES_MANAGE)
    rules.ensure_within(access.permissions, data.permissions)
    await _name_free(session, access.team.id, data.name, None)
    role = Role(team_id=access.team.id, name=data.name)
    role.grant_exactly(set(data.permissions))
    session.add(role)
    uow.publish(_role_updated(role, seq, access.user_id))
    await _commit_role(uow)
    return role_read(role)


async def update_role(
    uow: UnitOfWork,
    access: TeamAccess,
    role_id: uuid.UUID,
    data: RoleUpdate,
    precondition: Precondition,
) -> RoleRead:
    session = uow.session
    seq = await next_membership_seq(session, access.team.id)
    access = await held_access(session, access, P.ROLES_MANAGE)
    role = await fresh_role(session, role_id)
    if role is None or role.team_id != access.team.id:
        raise _role_not_found()
    precondition.check(role_read(role))
    rules.ensure_editable(role)
    if data.name is not None and data.name != role.name:
        await _name_free(session, access.team.id, data.name, role.id)
        role.name = data.name
    if data.permissions is not None:
        # Both what the role gains and what it loses must be within the editor's own rights.
        rules.ensure_within(access.permissions, set(data.permissions) ^ role.permissions)
        role.grant_exactly(set(data.permissions))
    session.add(role)
    uow.publish(_role_updated(role, seq, access.user_id))
    await _commit_role(uow)
    return role_read(role)


async def delete_role(
    uow: UnitOfWork, access: TeamAccess, role_id: uuid.UUID, precondition: Precondition
) -> None:
    session = uow.session
    # Every change that hands a role out holds the team's row first: holding it too, the
    # check that nobody holds or is offered the role sees what they committed.
    await hold_team(session, access.team.id)
    access = await held_access(session, access, P.ROLES_MANAGE)
    role = await fresh_role(session, role_id)
    if role is None or role.team_id != access.team.id:
        raise _role_not_found()
    precondition.check(role_read(role))
    rules.ensure_deletable(role)
    # Deleting takes away everything the role grants, as an edit may only within the
    # editor's own rights.
    rules.ensure_within(access.permissions, role.permissions)
    await _ensure_unused(session, role)
    await session.execute(delete(Invitation).where(col(Invitation.role_id) == role.id))
    await session.delete(role)
    await uow.commit()


def _role_in_use(detail: str) -> ProblemError:
    return conflict(
        "Role in use", detail, type="role-in-use", field="role_id", loc=["path", "role_id"]
    )


async def _ensure_unused(session: AsyncSession, role: Role) -> None:
    """No member holds the role and no pending invitation offers it, as committed now:
    locking reads (counted here, as an aggregate takes no row locks), which MariaDB answers
    from the latest rows, not from the transaction's snapshot."""
    holders = await session.execute(
        select(col(Membership.user_id))
        .where(col(Membership.role_id) == role.id)
        .with_for_update(read=True)
    )
    if count := len(holders.all()):
        raise _role_in_use(f"{count} member(s) hold this role; give them another role first.")
    pending = await session.execute(
        select(col(Invitation.id))
        .where(
            col(Invitation.role_id) == role.id,
            col(Invitation.status) == InvitationStatus.PENDING,
        )
        .with_for_update(read=True)
    )
    if pending.first() is not None:
        raise _role_in_use("Pending invitations offer this role; revoke them first.")
