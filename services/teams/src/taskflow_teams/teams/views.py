"""Team, member and role routes: thin, each one a call into service.py or queries.py."""

from __future__ import annotations

import uuid
from functools import partial

from fastapi import APIRouter, status
from taskflow_chassis.deps import ClockDep, SessionDep
from taskflow_chassis.etags import ETagDep, IfMatchDep, hold
from taskflow_chassis.pagination import Page, PageParamsDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.security import CurrentClaims, CurrentUserId
from taskflow_chassis.unit_of_work import UnitOfWorkDep

from taskflow_teams.access import (
    CanDeleteTeam,
    CanManageMembers,
    CanManageRoles,
    CanUpdateTeam,
    TeamMember,
)
from taskflow_teams.teams import queries, rules, service
from taskflow_teams.teams.schemas import (
    MemberRead,
    MemberRoleChange,
    MyMembership,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    TeamCreate,
    TeamRead,
    TeamUpdate,
)

router = APIRouter(prefix="/api/v1/teams", tags=["teams"])
MEMBER_ERRORS = problem_responses(401, 404)
WRITE_ERRORS = problem_responses(401, 403, 404, 409, 422)


@router.post("", status_code=status.HTTP_201_CREATED, responses=problem_responses(401, 403, 422))
async def create_team(
    data: TeamCreate, user_id: CurrentUserId, uow: UnitOfWorkDep, tag: ETagDep
) -> TeamRead:
    return tag(await service.create_team(uow, user_id, data))


@router.get("", responses=problem_responses(401))
async def list_my_teams(
    claims: CurrentClaims, page: PageParamsDep, session: SessionDep
) -> Page[TeamRead]:
    items, cursor = await queries.list_my_teams(session, claims.user_id, page, claims.team_id)
    return Page(items=items, next_cursor=cursor)


@router.get("/{team_id}", responses=MEMBER_ERRORS)
async def read_team(access: TeamMember, tag: ETagDep) -> TeamRead:
    return tag(queries.team_read(access.team, access.role))


@router.patch("/{team_id}", responses=WRITE_ERRORS)
async def update_team(
    data: TeamUpdate,
    access: CanUpdateTeam,
    uow: UnitOfWorkDep,
    precondition: IfMatchDep,
    tag: ETagDep,
) -> TeamRead:
    await hold(uow.session, access.team, precondition, partial(queries.team_read, role=access.role))
    return tag(await service.update_team(uow, access, data))


@router.delete("/{team_id}", status_code=status.HTTP_204_NO_CONTENT, responses=WRITE_ERRORS)
async def delete_team(
    access: CanDeleteTeam, uow: UnitOfWorkDep, clock: ClockDep, precondition: IfMatchDep
) -> None:
    await hold(uow.session, access.team, precondition, partial(queries.team_read, role=access.role))
    await service.delete_team(uow, access, clock())


@router.post(
    "/{team_id}/restore",
    responses=problem_responses(401, 403, 404),
    description="A deleted team back as it was (members, roles, projects, tasks), within 30"
    " days of its deletion; needs `team.delete`. A team not deleted is answered as it is.",
)
async def restore_team(
    team_id: uuid.UUID, user_id: CurrentUserId, uow: UnitOfWorkDep, clock: ClockDep, tag: ETagDep
) -> TeamRead:
    return tag(await service.restore_team(uow, team_id, user_id, clock()))


@router.get("/{team_id}/members", responses=MEMBER_ERRORS)
async def list_members(
    access: TeamMember, page: PageParamsDep, session: SessionDep
) -> Page[MemberRead]:
    items, cursor = await queries.list_members(session, access.team.id, page)
    return Page(items=items, next_cursor=cursor)


@router.get("/{team_id}/members/me", responses=MEMBER_ERRORS)
async def my_membership(access: TeamMember, session: SessionDep, tag: ETagDep) -> MyMembership:
    return tag(await queries.my_membership(session, access))


@router.get(
    "/{team_id}/members/{user_id}",
    responses=MEMBER_ERRORS,
    description="One member of the team, with their names: to any member (404 to anyone"
    " else, and for someone not in the team).",
)
async def read_member(
    user_id: uuid.UUID, access: TeamMember, session: SessionDep, tag: ETagDep
) -> MemberRead:
    return tag(await queries.member(session, access.team.id, user_id))


@router.patch("/{team_id}/members/{user_id}", responses=WRITE_ERRORS)
async def change_member_role(
    user_id: uuid.UUID,
    data: MemberRoleChange,
    access: CanManageMembers,
    uow: UnitOfWorkDep,
    precondition: IfMatchDep,
    tag: ETagDep,
) -> MemberRead:
    return tag(await service.change_member_role(uow, access, user_id, data.role_id, precondition))


@router.delete(
    "/{team_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=WRITE_ERRORS,
    description="Needs `members.manage`, except to remove yourself (leave the team).",
)
async def remove_member(
    user_id: uuid.UUID, access: TeamMember, uow: UnitOfWorkDep, precondition: IfMatchDep
) -> None:
    permission = rules.permission_to_remove(access.user_id, user_id)
    access.ensure_can(permission)
    await service.remove_member(uow, access, user_id, permission, precondition)


@router.get("/{team_id}/roles", responses=MEMBER_ERRORS)
async def list_roles(
    access: TeamMember, page: PageParamsDep, session: SessionDep
) -> Page[RoleRead]:
    items, cursor = await queries.list_roles(session, access.team.id, page)
    return Page(items=items, next_cursor=cursor)


@router.post("/{team_id}/roles", status_code=status.HTTP_201_CREATED, responses=WRITE_ERRORS)
async def create_role(
    data: RoleCreate, access: CanManageRoles, uow: UnitOfWorkDep, tag: ETagDep
) -> RoleRead:
    return tag(await service.create_role(uow, access, data))


@router.patch("/{team_id}/roles/{role_id}", responses=WRITE_ERRORS)
async def update_role(
    role_id: uuid.UUID,
    data: RoleUpdate,
    access: CanManageRoles,
    uow: UnitOfWorkDep,
    precondition: IfMatchDep,
    tag: ETagDep,
) -> RoleRead:
    return tag(await service.update_role(uow, access, role_id, data, precondition))


@router.delete(
    "/{team_id}/roles/{role_id}", status_code=status.HTTP_204_NO_CONTENT, responses=WRITE_ERRORS
)
async def delete_role(
    role_id: uuid.UUID, access: CanManageRoles, uow: UnitOfWorkDep, precondition: IfMatchDep
) -> None:
    await service.delete_role(uow, access, role_id, precondition)
