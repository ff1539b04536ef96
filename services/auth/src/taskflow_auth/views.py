"""Auth routes: thin, each one a call into service.py."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response, status
from taskflow_chassis.db import Database
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.problems import ProblemError, problem_responses
from taskflow_chassis.security import CurrentClaims, InvalidToken, bearer_token

from taskflow_auth import service
from taskflow_auth.models import Participant, User
from taskflow_auth.schemas import (
    Accepted,
    AccountDelete,
    EmailChange,
    EmailVerified,
    LoginRequest,
    ParticipantCreate,
    ParticipantRead,
    ParticipantUpdate,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    TokenPair,
    UserCreate,
    UserRead,
    UserUpdate,
    VerifyRequest,
)


async def get_context(request: Request) -> service.AuthContext:
    context: service.AuthContext = request.app.state.auth_context
    return context


AuthContextDep = Annotated[service.AuthContext, Depends(get_context)]


async def get_current_user(claims: CurrentClaims, session: SessionDep) -> User:
    user = await service.get_user(session, claims.user_id)
    if user is None:
        raise service.Unauthorized("The account no longer exists.")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_current_participant(user: CurrentUser, session: SessionDep) -> Participant:
    participant = await service.get_participant(session, user.id)
    if participant is None:
        raise ProblemError(
            404,
            "Not registered",
            "You have no participant profile yet: POST /api/v1/participants/register.",
            type="participant-not-registered",
        )
    return participant


CurrentParticipant = Annotated[Participant, Depends(get_current_participant)]


def client_address(request: Request) -> str:
    """The client's IP: uvicorn takes it from X-Forwarded-For only when the connection
    comes from a proxy named in FORWARDED_ALLOW_IPS, else it is the peer's own."""
    return request.client.host if request.client else "unknown"


auth = APIRouter(prefix="/api/v1/auth", tags=["auth"])
participants = APIRouter(prefix="/api/v1/participants", tags=["participants"])


async def user_read(session: SessionDep, user: User) -> UserRead:
    participant = await service.get_participant(session, user.id)
    return UserRead(
        id=user.id,
        username=user.username,
        email=user.email,
        email_verified=user.email_verified_at is not None,
        pending_email=await service.pending_email(session, user),
        created_at=user.created_at,
        participant=ParticipantRead.model_validate(participant) if participant else None,
    )


@auth.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=problem_responses(409, 422),
    summary="Sign up",
)
async def sign_up(data: UserCreate, ctx: AuthContextDep, session: SessionDep) -> UserRead:
    user = await service.create_user(ctx, session, data)
    return UserRead(
        id=user.id,
        username=user.username,
        email=user.email,
        email_verified=False,
        created_at=user.created_at,
    )


@auth.post("/jwt/create", responses=problem_responses(401, 422, 429), summary="Log in")
async def create_tokens(
    data: LoginRequest, request: Request, ctx: AuthContextDep, session: SessionDep
) -> TokenPair:
    return await service.login(ctx, session, data, client_address(request))


@auth.post("/jwt/refresh", responses=problem_responses(401, 422), summary="Rotate a token pair")
async def refresh_tokens(
    data: RefreshRequest, ctx: AuthContextDep, session: SessionDep
) -> TokenPair:
    return await service.refresh(ctx, session, data.refresh)


@auth.post("/jwt/verify", responses=problem_responses(401, 422), summary="Check an access token")
async def verify_token(
    data: VerifyRequest, ctx: AuthContextDep, session: SessionDep
) -> dict[str, str]:
    try:
        claims = await ctx.verifier.verify(data.token)
        await service.check_not_revoked(session, claims)
    except InvalidToken as exc:
        raise service.Unauthorized("The token is invalid, expired or revoked.") from exc
    return {"status": "valid"}


@auth.post(
    "/jwt/revoke",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 422),
    summary="Log out",
)
async def revoke_tokens(
    data: RefreshRequest,
    user: CurrentUser,
    claims: CurrentClaims,
    ctx: AuthContextDep,
    session: SessionDep,
) -> None:
    await service.revoke(ctx, session, user.id, data.refresh, claims)


@auth.get(
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
    description="200 with `X-User-Id` for a valid, unrevoked access token; 401 otherwise.",
)
async def forward_auth(request: Request, ctx: AuthContextDep) -> Response:
    token = await bearer_token(request)
    database: Database = request.app.state.database
    try:
        claims = await ctx.verifier.verify(token)
        async with database.session() as session:
            await service.check_not_revoked(session, claims)
    except InvalidToken as exc:
        raise service.Unauthorized("The token is invalid, expired or revoked.") from exc
    return Response(status_code=200, headers={"X-User-Id": str(claims.user_id)})


@auth.get("/jwks.json", summary="Public signing keys (JWKS)")
async def jwks(ctx: AuthContextDep, response: Response) -> dict[str, list[dict[str, Any]]]:
    response.headers["Cache-Control"] = "public, max-age=300"
    return ctx.keys.jwks()


@auth.get("/users/me", responses=problem_responses(401))
async def read_me(user: CurrentUser, session: SessionDep) -> UserRead:
    return await user_read(session, user)


@auth.patch(
    "/users/me",
    responses=problem_responses(401, 409, 422),
    description="Changes the username. The email changes through `POST /users/me/email`.",
)
async def update_me(data: UserUpdate, user: CurrentUser, session: SessionDep) -> UserRead:
    user = await service.update_user(session, user, data)
    return await user_read(session, user)


@auth.post(
    "/users/me/email",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(401, 403, 409, 422, 429),
    summary="Change my email",
    description="Needs the current password. A link goes to the new address and a notice to "
    "the current one; the email changes when the link is followed "
    "(`POST /users/verify_email`).",
)
async def change_email(
    data: EmailChange, user: CurrentUser, ctx: AuthContextDep, session: SessionDep
) -> Accepted:
    await service.request_email_change(ctx, session, user, data.new_email, data.current_password)
    return Accepted(detail="A confirmation link is on its way to the new address.")


@auth.post(
    "/users/verify_email",
    responses=problem_responses(400, 409, 422),
    summary="Follow an email verification or email change link",
)
async def verify_email(data: VerifyRequest, session: SessionDep) -> EmailVerified:
    user = await service.verify_email(session, data.token)
    return EmailVerified(email=user.email)


@auth.post(
    "/users/resend_verification",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(401),
    summary="Email a new verification link to my address",
    description="Does nothing for a verified address, or one that had its links for the hour.",
)
async def resend_verification(
    user: CurrentUser, ctx: AuthContextDep, session: SessionDep
) -> Accepted:
    await service.resend_verification(ctx, session, user)
    return Accepted(detail="If your address is not verified yet, a link is on its way.")


@auth.delete(
    "/users/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 422),
    summary="Delete my account",
)
async def delete_me(
    data: AccountDelete, user: CurrentUser, ctx: AuthContextDep, session: SessionDep
) -> None:
    await service.delete_user(ctx, session, user, data.current_password)


@auth.post(
    "/users/set_password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 422),
)
async def set_password(
    data: PasswordChange,
    user: CurrentUser,
    claims: CurrentClaims,
    ctx: AuthContextDep,
    session: SessionDep,
) -> None:
    await service.change_password(
        ctx, session, user, data.current_password, data.new_password, claims
    )


RESET_ACCEPTED = "If an account has this email, a reset link is on its way."


async def _request_reset_in_background(request: Request, email: str) -> None:
    database: Database = request.app.state.database
    async with database.session() as session:
        await service.request_password_reset(
            request.app.state.auth_context, session, email, client_address(request)
        )


@auth.post(
    "/users/reset_password",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(422),
    summary="Email a password reset link",
)
async def reset_password(
    data: PasswordResetRequest, request: Request, background: BackgroundTasks
) -> Accepted:
    # The lookup runs after the answer is sent: same body and same timing either way.
    background.add_task(_request_reset_in_background, request, data.email)
    return Accepted(detail=RESET_ACCEPTED)


@auth.post(
    "/users/reset_password_confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 422),
)
async def reset_password_confirm(
    data: PasswordResetConfirm, ctx: AuthContextDep, session: SessionDep
) -> None:
    await service.confirm_password_reset(ctx, session, data.token, data.new_password)


@participants.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 409, 422),
    summary="Register my participant profile",
)
async def register(
    data: ParticipantCreate, user: CurrentUser, session: SessionDep
) -> ParticipantRead:
    participant = await service.register_participant(session, user, data)
    return ParticipantRead.model_validate(participant)


@participants.get("/me", responses=problem_responses(401, 404))
async def read_participant(participant: CurrentParticipant) -> ParticipantRead:
    return ParticipantRead.model_validate(participant)


@participants.patch("/me", responses=problem_responses(401, 404, 409, 422))
async def update_participant(
    data: ParticipantUpdate, user: CurrentUser, participant: CurrentParticipant, session: SessionDep
) -> ParticipantRead:
    participant = await service.update_participant(session, user, participant, data)
    return ParticipantRead.model_validate(participant)


routers = [auth, participants]
