"""Personal API tokens: issued, listed, revoked, and their last use noted.

A token is ``tfp_`` and a JWT signed with auth's keys (``TokenIssuer.api_token``), so every
service verifies it from the JWKS as it verifies access tokens, with no call to auth; its
``jti`` is the token's id, so revoking it is a ``token`` revocation every service learns
from ``tokens.revoked`` (taskflow_chassis.revocation), as it learns of a log-out.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from taskflow_chassis.db import Database, rows_matched
from taskflow_chassis.etags import Precondition
from taskflow_chassis.pagination import PageParams, paginate_by_time
from taskflow_chassis.problems import ProblemError, not_found
from taskflow_chassis.security import InvalidToken, TokenClaims
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork
from taskflow_contracts import auth as contract

from taskflow_auth.api_tokens.models import ApiToken
from taskflow_auth.api_tokens.schemas import ApiTokenCreate, ApiTokenCreated, ApiTokenRead
from taskflow_auth.credentials.service import hold_account
from taskflow_auth.keys.service import TokenIssuer
from taskflow_auth.tokens.service import record_revocation

_tokens = table_of(ApiToken)
# Tokens a user may hold at once (revoked ones do not count).
MAX_TOKENS_PER_USER = 100


def secret_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_read(row: ApiToken) -> ApiTokenRead:
    return ApiTokenRead.model_validate(row, from_attributes=True)


def _too_many() -> ProblemError:
    return ProblemError(
        409,
        "Too many API tokens",
        f"You hold {MAX_TOKENS_PER_USER} tokens: revoke one you no longer use first.",
        type="too-many-api-tokens",
    )


async def create_token(
    uow: UnitOfWork, issuer: TokenIssuer, user_id: uuid.UUID, data: ApiTokenCreate
) -> ApiTokenCreated:
    # The account's row first: creations at the same instant count one after the other,
    # so none passes the limit; and one after the account's deletion writes nothing (401).
    await hold_account(uow.session, user_id)
    held = await uow.session.execute(
        select(ApiToken.id).where(
            col(ApiToken.user_id) == user_id,
            col(ApiToken.revoked_at).is_(None),
            col(ApiToken.expires_at) > utcnow(),
        )
    )
    if len(held.all()) >= MAX_TOKENS_PER_USER:
        raise _too_many()
    token_id, scopes = uuid.uuid4(), sorted(set(data.scopes))
    issued = issuer.api_token(
        user_id, token_id=token_id, scopes=scopes, team_id=data.team_id, expires_at=data.expiry()
    )
    row = ApiToken(
        id=token_id,
        user_id=user_id,
        name=data.name,
        scope_list=" ".join(scopes),
        team_id=data.team_id,
        secret_hash=secret_hash(issued.token),
        expires_at=issued.expires_at,
    )
    uow.session.add(row)
    uow.publish(
        contract.ApiTokenCreated(
            token_id=token_id,
            user_id=user_id,
            name=data.name,
            scopes=scopes,
            team_id=data.team_id,
            expires_at=issued.expires_at,
        ),
        subject=str(user_id),
    )
    await uow.commit()
    return ApiTokenCreated(**token_read(row).model_dump(), token=issued.token)


async def list_tokens(
    session: AsyncSession, user_id: uuid.UUID, page: PageParams
) -> tuple[list[ApiTokenRead], str | None]:
    """The user's tokens not revoked, newest first (expired ones too, until revoked)."""
    rows, cursor = await paginate_by_time(
        session,
        select(ApiToken).where(
            col(ApiToken.user_id) == user_id, col(ApiToken.revoked_at).is_(None)
        ),
        page,
        time_column=_tokens.c.created_at,
        id_column=_tokens.c.id,
    )
    return [token_read(row[0]) for row in rows], cursor


def _announce_revocation(uow: UnitOfWork, row: ApiToken) -> None:
    record_revocation(
        uow, scope="token", key=str(row.id), user_id=row.user_id, expires_at=row.expires_at
    )
    uow.publish(
        contract.ApiTokenRevoked(token_id=row.id, user_id=row.user_id), subject=str(row.user_id)
    )


async def _claim_revocation(uow: UnitOfWork, row: ApiToken) -> bool:
    """One guarded UPDATE: of revocations arriving together, exactly one flips
    ``revoked_at`` (the others match nothing), on every database."""
    revoked = await uow.session.execute(
        update(ApiToken)
        .where(col(ApiToken.id) == row.id, col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    return rows_matched(revoked) == 1


async def revoke_token(
    uow: UnitOfWork, user_id: uuid.UUID, token_id: uuid.UUID, precondition: Precondition
) -> None:
    """Refused by every service within moments; another user's token is 404, as one that
    does not exist; 412 when If-Match names another version of it than the one listed."""
    row = (
        await uow.session.execute(
            select(ApiToken).where(
                col(ApiToken.id) == token_id,
                col(ApiToken.user_id) == user_id,
                col(ApiToken.revoked_at).is_(None),
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise not_found("API token", "You hold no API token with this id.")
    precondition.check(token_read(row))
    if not await _claim_revocation(uow, row):
        raise not_found("API token", "You hold no API token with this id.")
    _announce_revocation(uow, row)
    await uow.commit()


async def revoke_all(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    """Every live token of an account being deleted, each refused until it would expire
    (the account's own revocation lasts only as long as its access tokens)."""
    rows = (
        await uow.session.execute(
            select(ApiToken).where(
                col(ApiToken.user_id) == user_id,
                col(ApiToken.revoked_at).is_(None),
                col(ApiToken.expires_at) > utcnow(),
            )
        )
    ).scalars()
    for row in rows.all():
        if await _claim_revocation(uow, row):
            _announce_revocation(uow, row)


async def check_api_token(session: AsyncSession, claims: TokenClaims) -> None:
    """InvalidToken unless the API token is one auth issued to its subject and still holds."""
    row = await session.get(ApiToken, uuid.UUID(claims.jti))
    if row is None or row.user_id != claims.user_id or row.revoked_at is not None:
        raise InvalidToken("API token revoked")


class UseRecorder:
    """Notes a token's last use (when and from where) at most once per ``interval`` per
    token and process: a token sent with every request costs one write a minute, not one
    a request."""

    def __init__(
        self,
        database: Database,
        publisher: Publisher,
        *,
        interval: float = 60.0,
        max_tokens: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.publisher = publisher
        self.interval = interval
        self.max_tokens = max_tokens
        self._monotonic = monotonic
        self._noted: dict[str, float] = {}
        self.writes = 0

    def _due(self, token_id: str) -> bool:
        now = self._monotonic()
        last = self._noted.get(token_id)
        if last is not None and now - last < self.interval:
            return False
        if len(self._noted) >= self.max_tokens:
            self._noted = {k: v for k, v in self._noted.items() if now - v < self.interval}
            if len(self._noted) >= self.max_tokens:
                return False  # a flood of tokens: skip rather than grow or write per request
        self._noted[token_id] = now  # before the write: requests arriving together write once
        return True

    async def used(self, claims: TokenClaims, address: str) -> None:
        if not claims.is_api_token or not self._due(claims.jti):
            return
        async with self.database.session() as session:
            uow = UnitOfWork(session, self.publisher)
            await session.execute(
                update(ApiToken)
                .where(col(ApiToken.id) == uuid.UUID(claims.jti))
                .values(last_used_at=utcnow(), last_used_from=address[:64])
            )
            await uow.commit()
        self.writes += 1
