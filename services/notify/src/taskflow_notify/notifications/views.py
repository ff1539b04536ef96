"""Notification routes: the caller's feed and preferences."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from taskflow_chassis.deps import ClockDep, SessionDep
from taskflow_chassis.etags import ETagDep, IfMatchDep
from taskflow_chassis.pagination import Page, PageParamsDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.security import CurrentUserId
from taskflow_chassis.unit_of_work import UnitOfWorkDep

from taskflow_notify.deps import DefaultLeadHours
from taskflow_notify.notifications import service
from taskflow_notify.notifications.schemas import (
    NotificationRead,
    PreferencesPatch,
    PreferencesRead,
    PreferencesUpdate,
    ReadAll,
)

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])


@router.get("", responses=problem_responses(400, 401, 422), description="Newest first.")
async def feed(
    user_id: CurrentUserId,
    page: PageParamsDep,
    session: SessionDep,
    unread: Annotated[bool | None, Query(description="true: only unread; false: only read")] = None,
) -> Page[NotificationRead]:
    items, cursor = await service.feed(session, user_id, page, unread)
    return Page(items=items, next_cursor=cursor)


@router.post("/read-all", responses=problem_responses(401))
async def read_all(user_id: CurrentUserId, clock: ClockDep, uow: UnitOfWorkDep) -> ReadAll:
    return ReadAll(marked=await service.mark_all_read(uow, user_id, clock()))


@router.get("/preferences", responses=problem_responses(401))
async def read_preferences(
    user_id: CurrentUserId, session: SessionDep, lead_hours: DefaultLeadHours, tag: ETagDep
) -> PreferencesRead:
    return tag(service.preferences_read(await service.preferences(session, user_id, lead_hours)))


@router.put("/preferences", responses=problem_responses(401, 422), description="All four fields.")
async def put_preferences(
    data: PreferencesUpdate,
    user_id: CurrentUserId,
    uow: UnitOfWorkDep,
    lead_hours: DefaultLeadHours,
    precondition: IfMatchDep,
    tag: ETagDep,
) -> PreferencesRead:
    return tag(await service.update_preferences(uow, user_id, data, lead_hours, precondition))


@router.patch(
    "/preferences",
    responses=problem_responses(401, 422),
    description="Only the fields sent change (validated as for PUT); none may be null.",
)
async def patch_preferences(
    data: PreferencesPatch,
    user_id: CurrentUserId,
    uow: UnitOfWorkDep,
    lead_hours: DefaultLeadHours,
    precondition: IfMatchDep,
    tag: ETagDep,
) -> PreferencesRead:
    return tag(await service.update_preferences(uow, user_id, data, lead_hours, precondition))


@router.post("/{notification_id}/read", responses=problem_responses(401, 404, 422))
async def read_one(
    notification_id: uuid.UUID,
    user_id: CurrentUserId,
    clock: ClockDep,
    uow: UnitOfWorkDep,
    tag: ETagDep,
) -> NotificationRead:
    return tag(await service.mark_read(uow, user_id, notification_id, clock()))
