"""Notification routes: the caller's feed and preferences."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from taskflow_chassis.deps import ClockDep, SessionDep
from taskflow_chassis.etags import ETagDep, IfMatchDep
from taskflow_chassis.pagination import Page, PageParamsDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.security import CurrentClaims, CurrentUserId
from taskflow_chassis.unit_of_work import UnitOfWorkDep

from taskflow_notify.deps import DefaultLeadHours
from taskflow_notify.live import service as live
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


class EventStream(StreamingResponse):
    media_type = "text/event-stream"


STREAM_DESCRIPTION = """Server-Sent Events for the caller alone, until the client disconnects or
its token expires or is revoked (reconnect with a fresh token and `Last-Event-ID`).

Events: `notification` (the notification as the feed shows it, plus `unread_count`),
`task.changed` (`task_id`, `project_id`, `team_id`, `change`: created, updated, assigned,
unassigned, commented or deleted, `actor`, `at`; to every member of the task's team),
`unread` (`unread_count`: a notification was marked read; also the first event of a new
stream), `reset` (`reason`, `unread_count`: events were lost to this client, which reloads
what it shows). Each event's `id` is a cursor: `Last-Event-ID` resumes right after it,
nothing lost or repeated, for as long as events are kept (a day by default); an older or
unknown cursor gets `reset`. A comment every 15 s keeps the connection open; `retry`
says how long to wait before reconnecting."""


@router.get(
    "/stream",
    name="notifications.stream",
    response_class=EventStream,
    responses={
        200: {
            "description": "The event stream (never ends by itself while the token is valid).",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **problem_responses(401),
    },
    description=STREAM_DESCRIPTION,
)
async def stream(
    request: Request,
    claims: CurrentClaims,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            description="The id of the last event received: the stream resumes after it.",
        ),
    ] = None,
) -> EventStream:
    user_id = claims.user_id
    events = live.Stream(
        request.app.state.database,
        request.app.state.live_watch,
        user_id,
        live.StreamOptions.from_settings(request.app.state.settings),
        greeting=lambda session: service.unread(session, user_id),
    )
    first = await events.open(last_event_id)
    return EventStream(
        events.frames(first, live.still_open(request, claims)),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


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
