"""Log-in, token rotation, log-out and token checks (the gateway's forwardAuth among them)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from taskflow_chassis.db import Database
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.security import CurrentClaims, bearer_token
from taskflow_chassis.unit_of_work import UnitOfWorkDep

from taskflow_auth.deps import AuthDepsDep, ClientAddress, CurrentUser, UserAgent
from taskflow_auth.sessions import service
from taskflow_auth.sessions.schemas import LoginRequest, RefreshRequest
from taskflow_auth.tokens.schemas import TokenPair, VerifyRequest

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/jwt/create", responses=problem_responses(401, 422, 429), summary="Log in")
async def create_tokens(
    data: LoginRequest,
    client: ClientAddress,
    user_agent: UserAgent,
    deps: AuthDepsDep,
    uow: UnitOfWorkDep,
) -> TokenPair:
    return await service.login(deps, uow, data, client, user_agent)


@router.post("/jwt/refresh", responses=problem_responses(401, 422), summary="Rotate a token pair")
async def refresh_tokens(data: RefreshRequest, deps: AuthDepsDep, uow: UnitOfWorkDep) -> TokenPair:
    return await service.refresh(deps, uow, data.refresh)


@router.post(
    "/jwt/verify",
    responses={
        200: {"content": {"application/json": {"example": {"status": "valid"}}}},
        **problem_responses(401, 422),
    },
    summary="Check an access token",
)
async def verify_token(
    data: VerifyRequest, deps: AuthDepsDep, session: SessionDep
) -> dict[str, str]:
    await service.check_access_token(deps, session, data.token)
    return {"status": "valid"}


@router.post(
    "/jwt/revoke",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 422),
    summary="Log out",
)
async def revoke_tokens(
    data: RefreshRequest,
    user: CurrentUser,
    claims: CurrentClaims,
    deps: AuthDepsDep,
    uow: UnitOfWorkDep,
) -> None:
    await service.log_out(deps, uow, user.id, data.refresh, claims)


@router.post(
    "/jwt/revoke_all",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403),
    summary="Log out everywhere",
    description=(
        "Ends every session of the account, this one included: each refresh token, and "
        "each access token at every service. Personal API tokens live on; revoke them one "
        "by one. A signed-in session only (a personal API token gets 403)."
    ),
)
async def revoke_all_tokens(user: CurrentUser, deps: AuthDepsDep, uow: UnitOfWorkDep) -> None:
    await service.log_out_everywhere(deps, uow, user)


@router.get(
    "/verify",
    response_class=Response,  # no body: the answer is the status and X-User-Id
    responses={
        200: {
            "description": "A valid token",
            "headers": {"X-User-Id": {"schema": {"type": "string", "format": "uuid"}}},
        },
        **problem_responses(401),
    },
    summary="forwardAuth check for the gateway",
    description="200 with `X-User-Id` for a valid, unrevoked access token or personal API "
    "token (`tfp_...`); 401 otherwise.",
)
async def forward_auth(request: Request, deps: AuthDepsDep, client: ClientAddress) -> Response:
    token = await bearer_token(request)
    database: Database = request.app.state.database
    async with database.session() as session:
        claims = await service.check_access_token(deps, session, token)
    # Every request through the gateway passes here: a personal API token's last use is
    # noted (at most once a minute per token, not a write per request).
    await deps.token_uses.used(claims, client)
    return Response(status_code=200, headers={"X-User-Id": str(claims.user_id)})
