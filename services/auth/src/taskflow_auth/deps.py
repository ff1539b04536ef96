"""What auth's routes depend on: its adapters, the signed-in account and its participant
profile, and the client's address."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import col, select
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.problems import ProblemError
from taskflow_chassis.security import CurrentClaims, JwtVerifier

from taskflow_auth.api_tokens.service import UseRecorder
from taskflow_auth.config import AuthSettings
from taskflow_auth.credentials.service import Passwords, account_gone
from taskflow_auth.keys.service import KeyStore, TokenIssuer
from taskflow_auth.participants.models import Participant
from taskflow_auth.participants.service import get_participant
from taskflow_auth.throttle.service import LoginThrottle
from taskflow_auth.users.models import User


@dataclass(frozen=True)
class AuthDeps:
    """The auth service's own adapters, built once by app.py when it starts."""

    settings: AuthSettings
    keys: KeyStore
    issuer: TokenIssuer
    verifier: JwtVerifier
    passwords: Passwords
    throttle: LoginThrottle
    token_uses: UseRecorder


async def get_auth_deps(request: Request) -> AuthDeps:
    deps: AuthDeps = request.app.state.auth_deps
    return deps


AuthDepsDep = Annotated[AuthDeps, Depends(get_auth_deps)]


async def get_current_user(claims: CurrentClaims, session: SessionDep) -> User:
    user = await session.get(User, claims.user_id)
    if user is None:
        raise account_gone()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_current_participant(user: CurrentUser, session: SessionDep) -> Participant:
    participant = await get_participant(session, user.id)
    if participant is None:
        # Gone with its account since the account was read: answered as for the account.
        if (await session.execute(select(User.id).where(col(User.id) == user.id))).first() is None:
            raise account_gone()
        raise ProblemError(
            404,
            "Not registered",
            "You have no participant profile yet: POST /api/v1/participants/register.",
            type="participant-not-registered",
        )
    return participant


CurrentParticipant = Annotated[Participant, Depends(get_current_participant)]


async def client_address(request: Request) -> str:
    """The client's IP: uvicorn takes it from X-Forwarded-For only when the connection
    comes from a proxy named in FORWARDED_ALLOW_IPS, else it is the peer's own."""
    return request.client.host if request.client else "unknown"


ClientAddress = Annotated[str, Depends(client_address)]


async def user_agent(request: Request) -> str | None:
    """The client's User-Agent as sent (for the security audit log only)."""
    return request.headers.get("user-agent")


UserAgent = Annotated[str | None, Depends(user_agent)]
