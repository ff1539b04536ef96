"""Personal API tokens of the signed-in account (a session only: the scope map opens none
of these routes to an API token)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.etags import ETagDep, IfMatchDep
from taskflow_chassis.pagination import Page, PageParamsDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.unit_of_work import UnitOfWorkDep

from taskflow_auth.api_tokens import service
from taskflow_auth.api_tokens.schemas import ApiTokenCreate, ApiTokenCreated, ApiTokenRead
from taskflow_auth.deps import AuthDepsDep, CurrentUser

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 403, 409, 422),
    summary="Create a personal API token",
    description="The answer carries the token (`tfp_...`) this once; auth keeps only its "
    "hash. Send it as `Authorization: Bearer tfp_...` to any service: it may do what its "
    "scopes name, never more than your role grants at the time, and only in `team_id` "
    "when given.",
)
async def create_token(
    data: ApiTokenCreate, user: CurrentUser, deps: AuthDepsDep, uow: UnitOfWorkDep, tag: ETagDep
) -> ApiTokenCreated:
    created = await service.create_token(uow, deps.issuer, user.id, data)
    tag(ApiTokenRead.model_validate(created.model_dump(exclude={"token"})))  # as listed
    return created


@router.get("", responses=problem_responses(401, 403), summary="My personal API tokens")
async def list_tokens(
    user: CurrentUser, page: PageParamsDep, session: SessionDep
) -> Page[ApiTokenRead]:
    items, cursor = await service.list_tokens(session, user.id, page)
    return Page(items=items, next_cursor=cursor)


@router.delete(
    "/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
    summary="Revoke a personal API token",
    description="Every service refuses it within moments. `If-Match`: the token as listed.",
)
async def revoke_token(
    token_id: uuid.UUID, user: CurrentUser, uow: UnitOfWorkDep, precondition: IfMatchDep
) -> None:
    await service.revoke_token(uow, user.id, token_id, precondition)
