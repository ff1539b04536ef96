"""The permission catalogue route: what each permission lets a member do, and what the
built-in roles grant (for a client building a role editor)."""

from __future__ import annotations

from fastapi import APIRouter
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.security import CurrentUserId

from taskflow_teams.permissions import service
from taskflow_teams.permissions.schemas import PermissionCatalogue

router = APIRouter(prefix="/api/v1/permissions", tags=["permissions"])


@router.get(
    "",
    responses=problem_responses(401),
    summary="The permission catalogue",
    description=(
        "Every permission a role may grant, with what it lets a member do, and the "
        "permissions each built-in role grants. Any signed-in user may read it."
    ),
)
async def read_catalogue(user_id: CurrentUserId) -> PermissionCatalogue:
    return service.catalogue()
