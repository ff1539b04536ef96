"""Refresh-token families and revocations every service must know.

A revocation is a ``token_revocations`` row and a ``taskflow.auth.tokens.revoked.v1``
event in the same unit of work (the outbox), so a service process hears of it within
moments, and one that missed the event (starting, or reconnecting to the broker) loads
it from ``GET /internal/v1/revocations`` (taskflow_chassis.revocation).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from taskflow_chassis.db import rows_matched
from taskflow_chassis.security import InvalidToken, TokenClaims
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts.auth import TokensRevoked

from taskflow_auth.keys.service import TokenIssuer
from taskflow_auth.tokens.models import RefreshToken, RevokedAccessToken, TokenRevocation
from taskflow_auth.tokens.schemas import TokenPair

Scope = Literal["token", "family", "user"]


def last_access_expiry(issuer: TokenIssuer) -> datetime:
    """When every access token issued until now has expired: a revocation matters until then."""
    return utcnow() + issuer.access_ttl


def record_revocation(
    uow: UnitOfWork,
    *,
    scope: Scope,
    key: str,
    user_id: uuid.UUID,
    expires_at: datetime,
    min_version: int | None = None,
) -> None:
    """``expires_at``: when the last token it covers expires."""
    fact = TokensRevoked(
        scope=scope, key=key, user_id=user_id, min_version=min_version, expires_at=expires_at
    )
    uow.session.add(TokenRevocation(**fact.model_dump()))
    uow.publish(fact, subject=str(user_id))


async def active_revocations(session: AsyncSession) -> list[TokensRevoked]:
    """Every revocation some unexpired token may still fall under."""
    rows = (
        await session.execute(
            select(TokenRevocation).where(col(TokenRevocation.expires_at) > utcnow())
        )
    ).scalars()
    return [TokensRevoked.model_validate(row, from_attributes=True) for row in rows]


async def check_revocations(session: AsyncSession, claims: TokenClaims) -> None:
    """InvalidToken for a revoked access token, or one of a revoked family."""
    if await session.get(RevokedAccessToken, claims.jti) is not None:
        raise InvalidToken("token revoked")
    family = claims.raw.get("fam")
    if family is None:
        return
    found = await session.execute(
        select(TokenRevocation.id)
        .where(col(TokenRevocation.scope) == "family", col(TokenRevocation.key) == str(family))
        .limit(1)
    )
    if found.first() is not None:
        raise InvalidToken("token's session revoked")


@dataclass(frozen=True)
class RefreshTokenState:
    family_id: uuid.UUID
    user_id: uuid.UUID
    used: bool
    revoked: bool


async def claim_refresh_token(session: AsyncSession, jti: str) -> bool:
    """Mark an unused, unrevoked refresh token used; True for the one request that did.

    The use itself is one guarded UPDATE, so of copies arriving together exactly one
    flips used_at (the row lock makes the others wait, then match nothing); reading
    first and writing after would let two pass the read.
    """
    claimed = await session.execute(
        update(RefreshToken)
        .where(
            col(RefreshToken.jti) == jti,
            col(RefreshToken.used_at).is_(None),
            col(RefreshToken.revoked_at).is_(None),
        )
        .values(used_at=utcnow())
    )
    return rows_matched(claimed) == 1


async def refresh_token_state(session: AsyncSession, jti: str) -> RefreshTokenState | None:
    row = (
        await session.execute(
            select(
                RefreshToken.family_id,
                RefreshToken.user_id,
                RefreshToken.used_at,
                RefreshToken.revoked_at,
            ).where(col(RefreshToken.jti) == jti)
        )
    ).first()
    if row is None:
        return None
    family_id, user_id, used_at, revoked_at = row
    return RefreshTokenState(family_id, user_id, used_at is not None, revoked_at is not None)


async def family_holds_revoked_token(session: AsyncSession, family_id: uuid.UUID) -> bool:
    found = await session.execute(
        select(RefreshToken.jti)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_not(None))
        .limit(1)
    )
    return found.first() is not None


def issue_pair(
    uow: UnitOfWork,
    issuer: TokenIssuer,
    user_id: uuid.UUID,
    *,
    token_version: int,
    family_id: uuid.UUID,
) -> TokenPair:
    # `ver`: a password change refuses older tokens; `fam`: a revoked family's access
    # tokens die with it, at every service.
    access = issuer.access_token(user_id, extra={"ver": token_version, "fam": str(family_id)})
    refresh = issuer.refresh_token(user_id, family_id=family_id)
    uow.session.add(
        RefreshToken(
            jti=refresh.jti, family_id=family_id, user_id=user_id, expires_at=refresh.expires_at
        )
    )
    return TokenPair(
        access=access.token,
        refresh=refresh.token,
        expires_in=int(issuer.access_ttl.total_seconds()),
    )


async def revoke_family(uow: UnitOfWork, issuer: TokenIssuer, family_id: uuid.UUID) -> None:
    """Its refresh tokens here; its access tokens (``fam``) at every service."""
    user_id = (
        await uow.session.execute(
            select(RefreshToken.user_id).where(col(RefreshToken.family_id) == family_id).limit(1)
        )
    ).scalar_one_or_none()
    revoked = await uow.session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.family_id) == family_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    if user_id is not None and rows_matched(revoked):
        record_revocation(
            uow,
            scope="family",
            key=str(family_id),
            user_id=user_id,
            expires_at=last_access_expiry(issuer),
        )


async def end_sessions(
    uow: UnitOfWork, issuer: TokenIssuer, user_id: uuid.UUID, *, token_version: int
) -> None:
    """Every refresh token of the account, and every access token older than its
    ``token_version``, at every service."""
    await uow.session.execute(
        update(RefreshToken)
        .where(col(RefreshToken.user_id) == user_id, col(RefreshToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    record_revocation(
        uow,
        scope="user",
        key=str(user_id),
        user_id=user_id,
        min_version=token_version,
        expires_at=last_access_expiry(issuer),
    )


async def revoke_access_token(uow: UnitOfWork, claims: TokenClaims) -> None:
    if await uow.session.get(RevokedAccessToken, claims.jti) is None:
        expires_at = datetime.fromtimestamp(claims.exp, UTC)
        uow.session.add(RevokedAccessToken(jti=claims.jti, expires_at=expires_at))
        record_revocation(
            uow, scope="token", key=claims.jti, user_id=claims.user_id, expires_at=expires_at
        )


async def delete_expired(session: AsyncSession, now: datetime) -> None:
    """Revoked tokens and revocations nothing can present any more, and refresh tokens
    past their expiry."""
    await session.execute(
        delete(RevokedAccessToken).where(col(RevokedAccessToken.expires_at) < now)
    )
    await session.execute(delete(TokenRevocation).where(col(TokenRevocation.expires_at) < now))
    await session.execute(delete(RefreshToken).where(col(RefreshToken.expires_at) < now))
