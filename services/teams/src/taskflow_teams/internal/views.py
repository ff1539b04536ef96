"""Service-to-service routes, outside ``/api/v1``: the gateway never routes them.

They answer only a caller holding the internal API key (``X-Service-Key``, compared
in constant time; ``taskflow_chassis.security.internal_router``). With no key
configured they do not exist (404), so a deployment that never set one exposes nothing.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.security import internal_router

from taskflow_teams.internal import service
from taskflow_teams.internal.schemas import PeoplePage, TeamMemberships, TeamSeqPage

router = internal_router()


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


@router.get("/people")
async def people(
    session: SessionDep,
    after: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> PeoplePage:
    """Everyone's username and display name: what a replica of names is rebuilt from."""
    return await service.people(session, after, limit)
