"""Invitation routes: a team's (``members.invite``) and the caller's own."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status
from taskflow_chassis.deps import ClockDep, SessionDep
from taskflow_chassis.etags import ETagDep, IfMatchDep
from taskflow_chassis.pagination import Page, PageParamsDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.security import CurrentUserId
from taskflow_chassis.unit_of_work import UnitOfWorkDep

from taskflow_teams.access import CanInvite
from taskflow_teams.deps import SettingsDep
from taskflow_teams.invitations import service
from taskflow_teams.invitations.schemas import InvitationCreate, InvitationRead, TokenBody
from taskflow_teams.teams.models import InvitationStatus

team_invitations = APIRouter(prefix="/api/v1/teams/{team_id}/invitations", tags=["invitations"])
my_invitations = APIRouter(prefix="/api/v1/invitations", tags=["invitations"])
ERRORS = problem_responses(401, 403, 404, 409, 422)


@team_invitations.post("", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def invite(
    data: InvitationCreate,
    access: CanInvite,
    settings: SettingsDep,
    clock: ClockDep,
    uow: UnitOfWorkDep,
    tag: ETagDep,
) -> InvitationRead:
    return tag(await service.invite(uow, access, data, settings, clock()))


@team_invitations.get("", responses=ERRORS)
async def list_team_invitations(
    access: CanInvite,
    page: PageParamsDep,
    clock: ClockDep,
    session: SessionDep,
    status: Annotated[InvitationStatus | None, Query()] = None,
) -> Page[InvitationRead]:
    items, cursor = await service.list_for_team(session, access, page, status, clock())
    return Page(items=items, next_cursor=cursor)


@team_invitations.delete(
    "/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS
)
async def revoke(
    invitation_id: uuid.UUID,
    access: CanInvite,
    clock: ClockDep,
    uow: UnitOfWorkDep,
    precondition: IfMatchDep,
) -> None:
    await service.revoke(uow, access, invitation_id, clock(), precondition)


@team_invitations.post("/{invitation_id}/resend", responses=ERRORS)
async def resend(
    invitation_id: uuid.UUID,
    access: CanInvite,
    settings: SettingsDep,
    clock: ClockDep,
    uow: UnitOfWorkDep,
    tag: ETagDep,
) -> InvitationRead:
    return tag(await service.resend(uow, access, invitation_id, settings, clock()))


@my_invitations.get(
    "",
    responses=problem_responses(401, 403),
    description="The pending invitations sent to my email; 403 until that email is verified.",
)
async def list_mine(
    user_id: CurrentUserId, page: PageParamsDep, clock: ClockDep, session: SessionDep
) -> Page[InvitationRead]:
    items, cursor = await service.list_mine(session, user_id, page, clock())
    return Page(items=items, next_cursor=cursor)


@my_invitations.post("/accept", responses=problem_responses(401, 403, 404, 409, 410, 422))
async def accept(
    data: TokenBody, user_id: CurrentUserId, clock: ClockDep, uow: UnitOfWorkDep, tag: ETagDep
) -> InvitationRead:
    return tag(await service.accept(uow, user_id, data.token, clock()))


@my_invitations.post("/decline", responses=problem_responses(401, 403, 404, 409, 410, 422))
async def decline(
    data: TokenBody, user_id: CurrentUserId, clock: ClockDep, uow: UnitOfWorkDep, tag: ETagDep
) -> InvitationRead:
    return tag(await service.decline(uow, user_id, data.token, clock()))
