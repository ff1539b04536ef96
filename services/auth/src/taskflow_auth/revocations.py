"""Revocations every service must know: recorded, announced, and listed for catch-up.

Each one is a ``token_revocations`` row and a ``taskflow.auth.tokens.revoked.v1``
event in the same transaction (the outbox), so a service process hears of it within
moments, and one that missed the event (starting, or reconnecting to the broker)
loads it from ``GET /internal/v1/revocations`` (taskflow_chassis.revocation).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_contracts.auth import TokensRevoked

from taskflow_auth import events
from taskflow_auth.models import TokenRevocation, utcnow

Scope = Literal["token", "family", "user"]


async def record(
    session: AsyncSession,
    *,
    scope: Scope,
    key: str,
    user_id: uuid.UUID,
    expires_at: datetime,
    min_version: int | None = None,
) -> None:
    """In the caller's transaction. ``expires_at``: when the last token it covers expires."""
    fact = TokensRevoked(
        scope=scope, key=key, user_id=user_id, min_version=min_version, expires_at=expires_at
    )
    session.add(TokenRevocation(**fact.model_dump()))
    await events.publish(session, fact, subject=str(user_id))


async def active(session: AsyncSession) -> list[TokensRevoked]:
    """Every revocation some unexpired token may still fall under."""
    rows = (
        await session.execute(
            select(TokenRevocation).where(TokenRevocation.expires_at > utcnow())  # type: ignore[arg-type]
        )
    ).scalars()
    return [
        TokensRevoked(
            scope=row.scope,  # type: ignore[arg-type]
            key=row.key,
            user_id=row.user_id,
            min_version=row.min_version,
            expires_at=row.expires_at,
        )
        for row in rows
    ]


async def family_revoked(session: AsyncSession, family_id: str) -> bool:
    found = await session.execute(
        select(TokenRevocation.id)
        .where(TokenRevocation.scope == "family", TokenRevocation.key == family_id)  # type: ignore[arg-type]
        .limit(1)
    )
    return found.first() is not None
