"""Teams, members and roles: the domain rules, one transaction per change."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.pagination import PageParams, paginate_by_time
from taskflow_chassis.problems import ProblemError, invalid_field
from taskflow_chassis.types import utcnow
from taskflow_contracts import permissions as P
from taskflow_contracts import teams as contract

from taskflow_teams import events
from taskflow_teams.access import TeamAccess, ensure_within, forbidden, team_not_found
from taskflow_teams.directory.models import Person
from taskflow_teams.teams.models import Membership, Role, Team
from taskflow_teams.teams.schemas import (
    MemberRead,
    MyMembership,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)


def role_read(role: Role) -> RoleRead:
    return RoleRead(
        id=role.id,
        team_id=role.team_id,
        name=role.name,
        permissions=sorted(role.permissions),
        is_builtin=role.is_builtin,
        is_leader=role.is_leader,
        created_at=role.created_at,
    )


def team_read(team: Team, role: Role | None = None) -> TeamRead:
    return TeamRead(
        id=team.id,
        name=team.name,
        description=team.description,
        created_by=team.created_by,
        created_at=team.created_at,
        updated_at=team.updated_at,
        my_role=role_read(role) if role else None,
    )


def conflict(title: str, detail: str, kind: str) -> ProblemError:
    return ProblemError(409, title, detail, type=kind)


# --- the membership sequence --------------------------------------------------------------

_teams = Team.__table__  # type: ignore[attr-defined]


async def hold_membership_seq(session: AsyncSession, team_id: uuid.UUID) -> int | None:
    """Take the team's next membership sequence number (``None``: no such team).

    Called first in every change that writes a membership event, before anything the
    event carries is read: the UPDATE holds the team's row until commit, so two changes
    to one team's memberships run one after the other, in the order of their numbers,
    and the second reads what the first committed. A plain UPDATE then a read (MariaDB
    has no UPDATE ... RETURNING); the Core table, so no ORM object is touched.
    """
    held = await session.execute(
        update(_teams)
        .where(_teams.c.id == team_id)
        .values(membership_seq=_teams.c.membership_seq + 1)
    )
    if held.rowcount != 1:  # type: ignore[attr-defined]
        return None
    seq = await session.execute(select(_teams.c.membership_seq).where(_teams.c.id == team_id))
    return int(seq.scalar_one())


async def next_membership_seq(session: AsyncSession, team_id: uuid.UUID) -> int:
    seq = await hold_membership_seq(session, team_id)
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
            .join(Role, Role.id == Membership.role_id)  # type: ignore[arg-type]
            .where(Membership.team_id == access.team.id, Membership.user_id == access.user_id)  # type: ignore[arg-type]
            .with_for_update(read=True)
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise team_not_found()
    fresh = TeamAccess(team=access.team, membership=row[0], role=row[1], user_id=access.user_id)
    if permission is not None and not fresh.can(permission):
        raise forbidden(permission)
    return fresh


async def fresh_role(session: AsyncSession, role_id: uuid.UUID) -> Role | None:
    """The role as committed now, not as this session first saw it: what an event carries
    must be the state at its sequence number (a locking read, so MariaDB's snapshot of
    the transaction's first read does not apply either)."""
    query = (
        select(Role)
        .where(Role.id == role_id)  # type: ignore[arg-type]
        .with_for_update(read=True)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one_or_none()


# --- teams --------------------------------------------------------------------------------


async def create_team(
    session: AsyncSession, founder: Person, data: TeamCreate
) -> tuple[Team, Role]:
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
    await events.publish(
        session, contract.TeamCreated(team_id=team.id, name=team.name, leader_id=founder.user_id)
    )
    await events.publish(session, _joined(team.id, founder.user_id, leader, seq=1))
    await session.commit()
    return team, leader


def _joined(
    team_id: uuid.UUID, user_id: uuid.UUID, role: Role, *, seq: int
) -> contract.MemberJoined:
    return contract.MemberJoined(
        team_id=team_id,
        user_id=user_id,
        role_id=role.id,
        role_name=role.name,
        permissions=sorted(role.permissions),
        team_seq=seq,
    )


async def list_my_teams(
    session: AsyncSession, user_id: uuid.UUID, page: PageParams
) -> tuple[list[TeamRead], str | None]:
    query = (
        select(Team, Role)
        .join(Membership, Membership.team_id == Team.id)  # type: ignore[arg-type]
        .join(Role, Role.id == Membership.role_id)  # type: ignore[arg-type]
        .where(Membership.user_id == user_id)  # type: ignore[arg-type]
    )
    rows, cursor = await paginate_by_time(
        session,
        query,
        page,
        time_column=Team.created_at,
        id_column=Team.id,  # type: ignore[arg-type]
    )
    return [team_read(team, role) for team, role in rows], cursor


async def update_team(session: AsyncSession, access: TeamAccess, data: TeamUpdate) -> TeamRead:
    team = access.team
    changes = data.model_dump(exclude_unset=True)
    if changes.get("name") is None:
        changes.pop("name", None)
    for field, value in changes.items():
        setattr(team, field, value)
    team.updated_at = utcnow()
    session.add(team)
    await events.publish(session, contract.TeamUpdated(team_id=team.id, name=team.name))
    await session.commit()
    return team_read(team, access.role)


async def delete_team(session: AsyncSession, access: TeamAccess) -> None:
    team_id = access.team.id
    seq = await next_membership_seq(session, team_id)
    await held_access(session, access, P.TEAM_DELETE)
    await _delete_team_rows(session, team_id)
    await events.publish(session, contract.TeamDeleted(team_id=team_id, team_seq=seq))
    await session.commit()


async def _delete_team_rows(session: AsyncSession, team_id: uuid.UUID) -> None:
    from taskflow_teams.invitations.models import Invitation

    # Explicit deletes in dependency order: no reliance on each database's cascade support.
    for table in (Invitation, Membership, Role):
        await session.execute(delete(table).where(table.team_id == team_id))  # type: ignore[attr-defined]
    await session.execute(delete(Team).where(Team.id == team_id))  # type: ignore[arg-type]


# --- members ------------------------------------------------------------------------------


def _member_query() -> Any:
    return (
        select(Membership, Role, Person)
        .join(Role, Role.id == Membership.role_id)  # type: ignore[arg-type]
        .outerjoin(Person, Person.user_id == Membership.user_id)  # type: ignore[arg-type]
    )


def member_read(membership: Membership, role: Role, person: Person | None) -> MemberRead:
    return MemberRead(
        team_id=membership.team_id,
        user_id=membership.user_id,
        username=person.username if person else None,
        display_name=person.display_name if person else None,
        role_id=role.id,
        role_name=role.name,
        joined_at=membership.joined_at,
    )


async def list_members(
    session: AsyncSession, team_id: uuid.UUID, page: PageParams
) -> tuple[list[MemberRead], str | None]:
    query = _member_query().where(Membership.team_id == team_id)
    rows, cursor = await paginate_by_time(
        session,
        query,
        page,
        time_column=Membership.joined_at,  # type: ignore[arg-type]
        id_column=Membership.user_id,  # type: ignore[arg-type]
    )
    return [member_read(*row) for row in rows], cursor


async def my_membership(session: AsyncSession, access: TeamAccess) -> MyMembership:
    person = await session.get(Person, access.user_id)
    base = member_read(access.membership, access.role, person)
    return MyMembership(**base.model_dump(), permissions=sorted(access.permissions))


async def _target(
    session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[Membership, Role]:
    row = (
        await session.execute(
            select(Membership, Role)
            .join(Role, Role.id == Membership.role_id)  # type: ignore[arg-type]
            .where(Membership.team_id == team_id, Membership.user_id == user_id)  # type: ignore[arg-type]
            # The row as committed now (MariaDB's plain reads see the transaction's
            # first snapshot, which may predate the change this request waited for).
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).first()
    if row is None:
        raise ProblemError(
            404,
            "Member not found",
            "This user is not a member of the team.",
            type="member-not-found",
        )
    return row[0], row[1]


async def count_leaders(session: AsyncSession, team_id: uuid.UUID) -> int:
    """Leaders as committed now: a locking read (an aggregate cannot take row locks, so
    the rows are counted here), which MariaDB answers from the latest rows, not from the
    transaction's snapshot."""
    leaders = await session.execute(
        select(Membership.user_id)
        .join(Role, Role.id == Membership.role_id)  # type: ignore[arg-type]
        .where(Membership.team_id == team_id, Role.is_leader.is_(True))  # type: ignore[arg-type,attr-defined]
        .with_for_update(read=True)
    )
    return len(leaders.all())


def last_leader() -> ProblemError:
    return conflict(
        "A team keeps at least one Team Leader",
        "Make another member Team Leader first.",
        "last-team-leader",
    )


async def get_role(session: AsyncSession, team_id: uuid.UUID, role_id: uuid.UUID) -> Role:
    role = await session.get(Role, role_id)
    if role is None or role.team_id != team_id:
        raise role_not_found()
    return role


def role_not_found() -> ProblemError:
    return ProblemError(
        404, "Role not found", "This team has no role with this id.", type="role-not-found"
    )


async def change_member_role(
    session: AsyncSession, access: TeamAccess, user_id: uuid.UUID, role_id: uuid.UUID
) -> MemberRead:
    seq = await next_membership_seq(session, access.team.id)
    access = await held_access(session, access, P.MEMBERS_MANAGE)
    membership, current = await _target(session, access.team.id, user_id)
    role = await fresh_role(session, role_id)
    if role is None or role.team_id != access.team.id:
        raise invalid_field(
            "role_id", "Unknown role", "This team has no role with this id.", type="role-not-found"
        )
    # Neither hand out nor take away a role stronger than your own.
    ensure_within(access, role.permissions | current.permissions)
    if (
        current.is_leader
        and not role.is_leader
        and await count_leaders(session, access.team.id) <= 1
    ):
        raise last_leader()
    if role.id != current.id:
        membership.role_id = role.id
        session.add(membership)
        await events.publish(
            session,
            contract.MemberRoleChanged(
                team_id=access.team.id,
                user_id=user_id,
                role_id=role.id,
                role_name=role.name,
                permissions=sorted(role.permissions),
                team_seq=seq,
            ),
        )
        await session.commit()
    # Otherwise nothing changed: the request's session ends without a commit, and the
    # number taken goes back.
    person = await session.get(Person, user_id)
    return member_read(membership, role, person)


async def remove_member(session: AsyncSession, access: TeamAccess, user_id: uuid.UUID) -> None:
    leaving = user_id == access.user_id
    if not leaving and not access.can(P.MEMBERS_MANAGE):
        raise forbidden(P.MEMBERS_MANAGE)
    seq = await next_membership_seq(session, access.team.id)
    access = await held_access(session, access, None if leaving else P.MEMBERS_MANAGE)
    membership, role = await _target(session, access.team.id, user_id)
    if not leaving:
        ensure_within(access, role.permissions)
    if role.is_leader and await count_leaders(session, access.team.id) <= 1:
        raise last_leader()
    await session.delete(membership)
    await events.publish(
        session, contract.MemberRemoved(team_id=access.team.id, user_id=user_id, team_seq=seq)
    )
    await session.commit()


async def forget_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """A deleted account leaves its teams; a leaderless team gets its longest member as leader."""
    rows = (
        await session.execute(
            select(Membership, Role)
            .join(Role, Role.id == Membership.role_id)  # type: ignore[arg-type]
            .where(Membership.user_id == user_id)  # type: ignore[arg-type]
        )
    ).all()
    for membership, role in rows:
        team_id = membership.team_id
        seq = await hold_membership_seq(session, team_id)
        if seq is None:
            continue  # the team went meanwhile, its memberships with it
        await session.delete(membership)
        await session.flush()
        await events.publish(
            session, contract.MemberRemoved(team_id=team_id, user_id=user_id, team_seq=seq)
        )
        if not role.is_leader or await count_leaders(session, team_id) > 0:
            continue
        successor = (
            await session.execute(
                select(Membership)
                .where(Membership.team_id == team_id)  # type: ignore[arg-type]
                .order_by(Membership.joined_at)  # type: ignore[arg-type]
                .limit(1)
            )
        ).scalar_one_or_none()
        seq = await next_membership_seq(session, team_id)
        if successor is None:
            await _delete_team_rows(session, team_id)
            await events.publish(session, contract.TeamDeleted(team_id=team_id, team_seq=seq))
            continue
        successor.role_id = role.id
        session.add(successor)
        await events.publish(
            session,
            contract.MemberRoleChanged(
                team_id=team_id,
                user_id=successor.user_id,
                role_id=role.id,
                role_name=role.name,
                permissions=sorted(role.permissions),
                team_seq=seq,
            ),
        )


# --- roles --------------------------------------------------------------------------------


async def list_roles(
    session: AsyncSession, team_id: uuid.UUID, page: PageParams
) -> tuple[list[RoleRead], str | None]:
    query = select(Role).where(Role.team_id == team_id)  # type: ignore[arg-type]
    rows, cursor = await paginate_by_time(
        session,
        query,
        page,
        time_column=Role.created_at,
        id_column=Role.id,  # type: ignore[arg-type]
    )
    return [role_read(row[0]) for row in rows], cursor


async def _name_free(
    session: AsyncSession, team_id: uuid.UUID, name: str, exclude: uuid.UUID | None
) -> None:
    query = select(Role.id).where(Role.team_id == team_id, func.lower(Role.name) == name.lower())  # type: ignore[arg-type]
    if exclude:
        query = query.where(Role.id != exclude)  # type: ignore[arg-type]
    if (await session.execute(query)).first():
        raise ProblemError(
            409,
            "Role name taken",
            "This team already has a role with this name.",
            type="role-name-taken",
            field="name",
        )


async def _commit_role(session: AsyncSession) -> None:
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise ProblemError(
            409,
            "Role name taken",
            "This team already has a role with this name.",
            type="role-name-taken",
            field="name",
        ) from exc


async def create_role(session: AsyncSession, access: TeamAccess, data: RoleCreate) -> RoleRead:
    ensure_within(access, data.permissions)
    seq = await next_membership_seq(session, access.team.id)
    access = await held_access(session, access, P.ROLES_MANAGE)
    ensure_within(access, data.permissions)
    await _name_free(session, access.team.id, data.name, None)
    role = Role(team_id=access.team.id, name=data.name)
    role.grant_exactly(set(data.permissions))
    session.add(role)
    await events.publish(session, _role_updated(role, seq))
    await _commit_role(session)
    return role_read(role)


def _role_updated(role: Role, seq: int) -> contract.RoleUpdated:
    return contract.RoleUpdated(
        team_id=role.team_id,
        role_id=role.id,
        name=role.name,
        permissions=sorted(role.permissions),
        team_seq=seq,
    )


async def update_role(
    session: AsyncSession, access: TeamAccess, role_id: uuid.UUID, data: RoleUpdate
) -> RoleRead:
    seq = await next_membership_seq(session, access.team.id)
    access = await held_access(session, access, P.ROLES_MANAGE)
    role = await fresh_role(session, role_id)
    if role is None or role.team_id != access.team.id:
        raise role_not_found()
    if role.is_leader:
        raise conflict(
            "Team Leader cannot be changed",
            "The Team Leader role always holds every permission.",
            "leader-role-fixed",
        )
    if data.name is not None and data.name != role.name:
        await _name_free(session, access.team.id, data.name, role.id)
        role.name = data.name
    if data.permissions is not None:
        # Both what the role gains and what it loses must be within the editor's own rights.
        ensure_within(access, set(data.permissions) ^ role.permissions)
        role.grant_exactly(set(data.permissions))
    session.add(role)
    await events.publish(session, _role_updated(role, seq))
    await _commit_role(session)
    return role_read(role)


async def delete_role(session: AsyncSession, access: TeamAccess, role_id: uuid.UUID) -> None:
    role = await get_role(session, access.team.id, role_id)
    if role.is_builtin:
        raise conflict(
            "Built-in role",
            "Built-in roles cannot be deleted; edit their permissions instead.",
            "builtin-role",
        )
    in_use = (
        await session.execute(
            select(func.count()).select_from(Membership).where(Membership.role_id == role.id)
        )  # type: ignore[arg-type]
    ).scalar_one()
    if in_use:
        raise conflict(
            "Role in use",
            f"{in_use} member(s) hold this role; give them another role first.",
            "role-in-use",
        )
    from taskflow_teams.invitations.models import Invitation, InvitationStatus

    pending = (
        await session.execute(
            select(func.count())
            .select_from(Invitation)
            .where(Invitation.role_id == role.id, Invitation.status == InvitationStatus.PENDING)  # type: ignore[arg-type]
        )
    ).scalar_one()
    if pending:
        raise conflict(
            "Role in use", "Pending invitations offer this role; revoke them first.", "role-in-use"
        )
    await session.execute(delete(Invitation).where(Invitation.role_id == role.id))  # type: ignore[arg-type]
    await session.delete(role)
    await session.commit()
