"""Log-in, token rotation and log-out, and the check every access token passes here."""

from __future__ import annotations

import uuid
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from taskflow_chassis.problems import ProblemError
from taskflow_chassis.security import InvalidToken, TokenClaims
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts import auth as contract

from taskflow_auth.api_tokens.service import check_api_token
from taskflow_auth.credentials.service import PasswordsBusy, authentication_failed, hold_account
from taskflow_auth.deps import AuthDeps
from taskflow_auth.sessions.schemas import LoginRequest
from taskflow_auth.throttle.service import LoginThrottled
from taskflow_auth.tokens.schemas import TokenPair
from taskflow_auth.tokens.service import (
    RefreshTokenState,
    check_revocations,
    claim_refresh_token,
    family_holds_revoked_token,
    issue_pair,
    refresh_token_state,
    revoke_access_token,
    revoke_family,
)
from taskflow_auth.users.models import User
from taskflow_auth.users.service import end_every_session, find_by_login, upgrade_password_hash


def _login_throttled(retry_after: int) -> ProblemError:
    return ProblemError(
        429,
        "Too many login attempts",
        f"Try again in {retry_after} seconds.",
        type="login-throttled",
        headers={"Retry-After": str(retry_after)},
    )


async def login(
    deps: AuthDeps,
    uow: UnitOfWork,
    data: LoginRequest,
    client_ip: str,
    user_agent: str | None = None,
) -> TokenPair:
    lowered = data.login.strip().lower()
    user = await find_by_login(uow.session, lowered)
    # The read transaction ends (the account kept as read) before the password waits for
    # a thread: queued log-ins must not hold the connections every other route needs.
    if user is not None:
        uow.session.expunge(user)
    await uow.rollback()
    # One counter per account, whether it is named by username or by email.
    account = f"user:{user.id}" if user else f"name:{lowered}"
    try:
        attempt = await deps.throttle.begin(account, client_ip)
    except LoginThrottled as throttled:
        raise _login_throttled(throttled.retry_after) from None
    try:
        password_ok, rehashed = await deps.passwords.verify_and_update(
            data.password, user.password_hash if user else None
        )
    except PasswordsBusy:
        # The password was never checked: the attempt is given back, not held against anyone.
        await deps.throttle.withdraw(attempt)
        raise
    if user is None or not password_ok:
        await deps.throttle.failed(attempt)
        # The refusal is a fact of its own, committed alone (nothing else is written). Only
        # attempts whose password was checked get here: the throttle bounds how many a
        # burst can write, and the 429s it answers beyond that write nothing.
        uow.publish(
            contract.LoginFailed(
                # What was typed for an account that does not exist is often a password in
                # the wrong field: it is kept nowhere (the event, the broker, the audit log).
                login=data.login[:254] if user else "",
                user_id=user.id if user else None,
                address=client_ip,
                reason="wrong-password" if user else "unknown-account",
            ),
            subject=str(user.id) if user else None,
        )
        await uow.commit()
        raise authentication_failed()
    await deps.throttle.succeeded(attempt)
    # The account may have been deleted while its password was checked: no session then.
    await hold_account(uow.session, user.id)
    if await token_version_of(uow.session, user.id) != user.token_version:
        # Its password changed (or was reset) meanwhile, ending every session: one made
        # now from the old password would be one the change never saw.
        raise authentication_failed()
    uow.publish(
        contract.LoginSucceeded(
            user_id=user.id,
            username=user.username,
            address=client_ip,
            user_agent=user_agent[:512] if user_agent else None,
        ),
        subject=str(user.id),
    )
    if rehashed is not None:
        await upgrade_password_hash(uow.session, user, rehashed)
    pair = issue_pair(
        uow, deps.issuer, user.id, token_version=user.token_version, family_id=uuid.uuid4()
    )
    await uow.commit()
    return pair


async def _verified(deps: AuthDeps, token: str, expected_type: str) -> TokenClaims:
    try:
        return await deps.verifier.verify(token, expected_type=expected_type)
    except InvalidToken as exc:
        raise authentication_failed("The token is invalid or expired.") from exc


async def refresh(deps: AuthDeps, uow: UnitOfWork, token: str) -> TokenPair:
    claims = await _verified(deps, token, "refresh")
    await hold_account(uow.session, claims.user_id)
    claimed = await claim_refresh_token(uow.session, claims.jti)
    presented = await refresh_token_state(uow.session, claims.jti)
    if not claimed:
        await _refuse_unclaimed(deps, uow, presented)
    user = await uow.session.get(User, presented.user_id) if presented else None
    if presented is None or user is None:
        raise authentication_failed("The refresh token is invalid or revoked.")
    # A token issued while its session was being ended (log-out, password change, reset,
    # reuse) escapes that revoking UPDATE, which saw only the rows committed before it; but
    # its family then holds a revoked token, so the family is ended here instead.
    if await family_holds_revoked_token(uow.session, presented.family_id):
        await revoke_family(uow, deps.issuer, presented.family_id)
        await uow.commit()
        raise authentication_failed("The refresh token is invalid or revoked.")
    pair = issue_pair(
        uow, deps.issuer, user.id, token_version=user.token_version, family_id=presented.family_id
    )
    await uow.commit()
    return pair


async def _refuse_unclaimed(
    deps: AuthDeps, uow: UnitOfWork, presented: RefreshTokenState | None
) -> NoReturn:
    if presented is not None and presented.used and not presented.revoked:
        # A used token came back (a copy, or a loser of the race): end its session.
        await revoke_family(uow, deps.issuer, presented.family_id)
        await uow.commit()
        raise authentication_failed(
            "The refresh token was already used; its session has been revoked."
        )
    raise authentication_failed("The refresh token is invalid or revoked.")


async def log_out(
    deps: AuthDeps, uow: UnitOfWork, user_id: uuid.UUID, refresh_token: str, access: TokenClaims
) -> None:
    """The refresh token's family and the access token in use both die."""
    await hold_account(uow.session, user_id)
    try:
        claims = await deps.verifier.verify(refresh_token, expected_type="refresh")
    except InvalidToken:
        claims = None
    if claims is not None and claims.user_id == user_id:
        presented = await refresh_token_state(uow.session, claims.jti)
        if presented is not None:
            await revoke_family(uow, deps.issuer, presented.family_id)
    await revoke_access_token(uow, access)
    await uow.commit()


async def log_out_everywhere(deps: AuthDeps, uow: UnitOfWork, user: User) -> None:
    """Every session of the account ends, this one too: its refresh tokens, and its access
    tokens at every service. Personal API tokens live on (each is revoked on its own)."""
    await hold_account(uow.session, user.id)
    await end_every_session(deps, uow, user)
    await uow.commit()


async def token_version_of(session: AsyncSession, user_id: uuid.UUID) -> int | None:
    """The account's token version as it stands (None: no such account)."""
    found = await session.execute(select(User.token_version).where(col(User.id) == user_id))
    return found.scalar_one_or_none()


async def check_not_revoked(session: AsyncSession, claims: TokenClaims) -> None:
    """InvalidToken for a revoked jti or family, a deleted user, a token from before a
    password change, or a personal API token revoked (it outlives password changes)."""
    if claims.is_api_token:
        await check_api_token(session, claims)
        return
    await check_revocations(session, claims)
    version = await token_version_of(session, claims.user_id)
    if version is None:
        raise InvalidToken("user no longer exists")
    if claims.raw.get("ver") != version:
        raise InvalidToken("token issued before the last password change")


async def check_access_token(deps: AuthDeps, session: AsyncSession, token: str) -> TokenClaims:
    """The claims of a valid access token nothing revoked; 401 for any other token."""
    try:
        claims = await deps.verifier.verify(token)
        await check_not_revoked(session, claims)
    except InvalidToken as exc:
        raise authentication_failed("The token is invalid, expired or revoked.") from exc
    return claims
