"""Accounts: sign-up, the signed-in account, its password and its email address."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, status
from taskflow_chassis.db import Database
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.etags import ETagDep, IfMatchDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.security import CurrentClaims, route_operation_id
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork, UnitOfWorkDep

from taskflow_auth.deps import AuthDeps, AuthDepsDep, ClientAddress, CurrentUser
from taskflow_auth.tokens.schemas import VerifyRequest
from taskflow_auth.users import rules, service
from taskflow_auth.users.schemas import (
    Accepted,
    AccountDelete,
    EmailChange,
    EmailVerified,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    UserCreate,
    UserRead,
    UserUpdate,
)

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

RESET_ACCEPTED = "If an account has this email, a reset link is on its way."


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
    responses=problem_responses(409, 422),
    summary="Sign up",
)
async def sign_up(
    data: UserCreate, deps: AuthDepsDep, uow: UnitOfWorkDep, tag: ETagDep
) -> UserRead:
    user = await service.create_user(deps, uow, data)
    return tag(
        UserRead(
            id=user.id,
            username=user.username,
            email=user.email,
            email_verified=False,
            created_at=user.created_at,
        )
    )


@router.get("/users/me", responses=problem_responses(401))
async def read_me(user: CurrentUser, session: SessionDep, tag: ETagDep) -> UserRead:
    return tag(await service.account_of(session, user))


@router.patch(
    "/users/me",
    responses=problem_responses(401, 403, 409, 422),
    description="Changes the username (a signed-in session only: an API token gets 403 "
    "`insufficient-scope` naming the field, since log-in asks for it). The email changes "
    "through `POST /users/me/email`.",
)
async def update_me(
    data: UserUpdate,
    user: CurrentUser,
    claims: CurrentClaims,
    request: Request,
    uow: UnitOfWorkDep,
    precondition: IfMatchDep,
    tag: ETagDep,
) -> UserRead:
    rules.refuse_session_fields(claims, route_operation_id(request), data.model_fields_set)
    user = await service.update_user(uow, user, data, precondition)
    return tag(await service.account_of(uow.session, user))


@router.post(
    "/users/me/email",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(401, 403, 409, 422, 429),
    summary="Change my email",
    description="Needs the current password. A link goes to the new address and a notice to "
    "the current one; the email changes when the link is followed "
    "(`POST /users/verify_email`).",
)
async def change_email(
    data: EmailChange, user: CurrentUser, deps: AuthDepsDep, uow: UnitOfWorkDep
) -> Accepted:
    await service.request_email_change(deps, uow, user, data.new_email, data.current_password)
    return Accepted(detail="A confirmation link is on its way to the new address.")


@router.post(
    "/users/verify_email",
    responses=problem_responses(400, 409, 422),
    summary="Follow an email verification or email change link",
)
async def verify_email(data: VerifyRequest, uow: UnitOfWorkDep) -> EmailVerified:
    user = await service.verify_email(uow, data.token)
    return EmailVerified(email=user.email)


@router.post(
    "/users/resend_verification",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(401),
    summary="Email a new verification link to my address",
    description="Does nothing for a verified address, or one that had its links for the hour.",
)
async def resend_verification(user: CurrentUser, deps: AuthDepsDep, uow: UnitOfWorkDep) -> Accepted:
    await service.resend_verification(deps, uow, user)
    return Accepted(detail="If your address is not verified yet, a link is on its way.")


@router.delete(
    "/users/me",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 422),
    summary="Delete my account",
)
async def delete_me(
    data: AccountDelete,
    user: CurrentUser,
    deps: AuthDepsDep,
    uow: UnitOfWorkDep,
    precondition: IfMatchDep,
) -> None:
    await service.delete_user(deps, uow, user, data.current_password, precondition)


@router.post(
    "/users/set_password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 422),
)
async def set_password(
    data: PasswordChange,
    user: CurrentUser,
    client: ClientAddress,
    deps: AuthDepsDep,
    uow: UnitOfWorkDep,
) -> None:
    await service.change_password(deps, uow, user, data.current_password, data.new_password, client)


async def _request_reset(
    deps: AuthDeps, database: Database, publisher: Publisher, email: str, client: str
) -> None:
    async with database.session() as session:
        await service.request_password_reset(deps, UnitOfWork(session, publisher), email, client)


@router.post(
    "/users/reset_password",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(422),
    summary="Email a password reset link",
)
async def reset_password(
    data: PasswordResetRequest,
    request: Request,
    client: ClientAddress,
    deps: AuthDepsDep,
    background: BackgroundTasks,
) -> Accepted:
    # The lookup runs after the answer is sent: same body and same timing either way.
    state = request.app.state
    background.add_task(_request_reset, deps, state.database, state.publisher, data.email, client)
    return Accepted(detail=RESET_ACCEPTED)


@router.post(
    "/users/reset_password_confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 422),
)
async def reset_password_confirm(
    data: PasswordResetConfirm, client: ClientAddress, deps: AuthDepsDep, uow: UnitOfWorkDep
) -> None:
    await service.confirm_password_reset(deps, uow, data.token, data.new_password, client)
