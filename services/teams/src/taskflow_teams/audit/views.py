"""Audit log routes: the caller's own entries, and a team's (``audit.read``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.pagination import Page, PageParamsDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.security import CurrentUserId
from taskflow_chassis.types import DayEndOrInstant, DayStartOrInstant

from taskflow_teams.access import CanReadAudit
from taskflow_teams.audit import service
from taskflow_teams.audit.models import AuditKind
from taskflow_teams.audit.schemas import AuditEntryRead
from taskflow_teams.audit.service import AuditFilters

own_audit = APIRouter(prefix="/api/v1/audit", tags=["audit"])
team_audit = APIRouter(prefix="/api/v1/teams/{team_id}/audit", tags=["audit"])

FILTERS_NOTE = (
    " Newest first, a page at a time. `kind` may be given more than once (any of them); "
    "`actor` keeps what one person did; `since` and `until` bound the time (a date alone: "
    "that day's start, or its end). A `next_cursor` is bound to the filters it came with: "
    "under others it answers 400 `invalid-cursor`."
)


async def audit_filters(
    kind: Annotated[
        list[AuditKind] | None,
        Query(max_length=len(AuditKind), description="Repeat for any of several"),
    ] = None,
    actor: Annotated[uuid.UUID | None, Query(description="Entries this person caused")] = None,
    since: Annotated[DayStartOrInstant | None, Query(description="At or after")] = None,
    until: Annotated[DayEndOrInstant | None, Query(description="At or before")] = None,
) -> AuditFilters:
    return AuditFilters(kinds=tuple(kind or ()), actor_id=actor, since=since, until=until)


FiltersDep = Annotated[AuditFilters, Depends(audit_filters)]


@own_audit.get(
    "",
    responses=problem_responses(400, 401, 422),
    description="The caller's security activity: what they did, and what concerned them "
    "(log-ins, failed log-ins naming their account, password and email changes, API "
    "tokens, sessions signed out, their memberships)." + FILTERS_NOTE,
)
async def list_own_audit(
    user_id: CurrentUserId, filters: FiltersDep, page: PageParamsDep, session: SessionDep
) -> Page[AuditEntryRead]:
    items, cursor = await service.list_own(session, user_id, filters, page)
    return Page(items=items, next_cursor=cursor)


@team_audit.get(
    "",
    responses=problem_responses(400, 401, 403, 404, 422),
    description="The team's audit log: members joining, leaving and changing role, roles "
    "edited, invitations accepted, API tokens restricted to the team. Needs `audit.read` "
    "(Team Leader holds it)." + FILTERS_NOTE,
)
async def list_team_audit(
    access: CanReadAudit, filters: FiltersDep, page: PageParamsDep, session: SessionDep
) -> Page[AuditEntryRead]:
    items, cursor = await service.list_team(session, access.team.id, filters, page)
    return Page(items=items, next_cursor=cursor)
