"""What members read of their teams, members and roles (no locks, no writes)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.pagination import PageParams, paginate_by_time
from taskflow_chassis.problems import not_found
from taskflow_chassis.types import table_of

from taskflow_teams.access import TeamAccess
from taskflow_teams.replica.models import Person
from taskflow_teams.replica.schemas import person_ref
from taskflow_teams.teams.models import Membership, Role, Team
from taskflow_teams.teams.schemas import MemberRead, MyMembership, RoleRead, TeamRead

# Pages are keyed on the Core columns (``paginate`` takes column elements).
_teams = table_of(Team)
_members = table_of(Membership)
_roles = table_of(Role)


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


def member_read(membership: Membership, role: Role, person: Person | None) -> MemberRead:
    return MemberRead(
        team_id=membership.team_id,
        user_id=membership.user_id,
        username=person.username if person else None,
        display_name=person.display_name if person else None,
        user=person_ref(membership.user_id, person),
        role_id=role.id,
        role_name=role.name,
        joined_at=membership.joined_at,
    )


async def list_my_teams(
    session: AsyncSession, user_id: uuid.UUID, page: PageParams, only: uuid.UUID | None = None
) -> tuple[list[TeamRead], str | None]:
    """``only``: the one team an API token is restricted to."""
    query: Select[*tuple[Any, ...]] = (
        select(Team, Role)
        .join(Membership, col(Membership.team_id) == Team.id)
        .join(Role, col(Role.id) == Membership.role_id)
        .where(col(Membership.user_id) == user_id, col(Team.deleted_at).is_(None))
    )
    if only is not None:
        query = query.where(col(Team.id) == only)
    rows, cursor = await paginate_by_time(
        session, query, page, time_column=_teams.c.created_at, id_column=_teams.c.id
    )
    return [team_read(team, role) for team, role in rows], cursor


def _member_rows() -> Select[*tuple[Any, ...]]:
    return (
        select(Membership, Role, Person)
        .join(Role, col(Role.id) == Membership.role_id)
        .outerjoin(Person, col(Person.user_id) == Membership.user_id)
    )


async def list_members(
    session: AsyncSession, team_id: uuid.UUID, page: PageParams
) -> tuple[list[MemberRead], str | None]:
    rows, cursor = await paginate_by_time(
        session,
        _member_rows().where(col(Membership.team_id) == team_id),
        page,
        time_column=_members.c.joined_at,
        id_column=_members.c.user_id,
    )
    return [member_read(*row) for row in rows], cursor


async def member(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> MemberRead:
    """One member of the team, with their names (404 when not a member)."""
    query = _member_rows().where(
        col(Membership.team_id) == team_id, col(Membership.user_id) == user_id
    )
    row = (await session.execute(query)).first()
    if row is None:
        raise not_found("Member")
    return member_read(*row)


async def my_membership(session: AsyncSession, access: TeamAccess) -> MyMembership:
    person = await session.get(Person, access.user_id)
    base = member_read(access.membership, access.role, person)
    return MyMembership(**base.model_dump(), permissions=sorted(access.permissions))


async def list_roles(
    session: AsyncSession, team_id: uuid.UUID, page: PageParams
) -> tuple[list[RoleRead], str | None]:
    rows, cursor = await paginate_by_time(
        session,
        select(Role).where(col(Role.team_id) == team_id),
        page,
        time_column=_roles.c.created_at,
        id_column=_roles.c.id,
    )
    return [role_read(row[0]) for row in rows], cursor
