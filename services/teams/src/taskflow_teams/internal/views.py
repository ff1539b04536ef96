"""Service-to-service routes, outside ``/api/v1``: the gateway never routes them.

They answer only a caller holding the internal API key (``X-Service-Key``, compared
in constant time). With no key configured they do not exist (404), so a deployment
that never set one exposes nothing.
"""

from __future__ import annotations

import hmac
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.problems import ProblemError

from taskflow_teams.config import TeamsSettings
from taskflow_teams.internal import service
from taskflow_teams.internal.schemas import TeamMemberships, TeamSeqPage

SERVICE_KEY_HEADER = "X-Service-Key"


async def require_service_key(
    request: Request,
    key: Annotated[str | None, Header(alias=SERVICE_KEY_HEADER)] = None,
) -> None:
    settings: TeamsSettings = request.app.state.settings
    expected = settings.internal_api_key.get_secret_value()
    if not expected:
        raise ProblemError(404, "Not Found", f"No route for {request.url.path}.")
    if key is None or not hmac.compare_digest(key.encode(), expected.encode()):
        raise ProblemError(
            401,
            "Service key required",
            f"This route answers services holding the internal API key ({SERVICE_KEY_HEADER}).",
            type="service-key-required",
        )


router = APIRouter(
    prefix="/internal/v1",
    tags=["internal"],
    include_in_schema=False,
    dependencies=[Depends(require_service_key)],
)


@router.get("/memberships/{team_id}")
async def team_memberships(team_id: uuid.UUID, session: SessionDep) -> TeamMemberships:
    return await service.team_memberships(session, team_id)


@router.get("/memberships")
async def team_seqs(
    session: SessionDep,
    after: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> TeamSeqPage:
    return await service.team_seqs(session, after, limit)
