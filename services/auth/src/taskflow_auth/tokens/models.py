"""Refresh tokens by family, revoked access tokens, and the revocations every service learns."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_auth.tables import AuthTable


class RefreshToken(AuthTable, table=True):
    __tablename__ = "refresh_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    family_id: uuid.UUID = Field(index=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    issued_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    # Set when the token was exchanged for a new pair; presenting it again is reuse.
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class RevokedAccessToken(AuthTable, table=True):
    __tablename__ = "revoked_access_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_column=utc_column(index=True))


class TokenRevocation(AuthTable, table=True):
    """A revocation every service must know until ``expires_at`` (when the last token it
    covers expires): what other processes load at start as ``tokens.revoked`` events.
    Not unique: the same family may be revoked twice at once, and both rows are true."""

    __tablename__ = "token_revocations"
    __table_args__ = (Index("ix_token_revocations_scope_key", "scope", "key"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # token: key is an access token's jti; family: a refresh family; user: a user id.
    scope: str = Field(max_length=16)
    key: str = Field(max_length=64)
    user_id: uuid.UUID
    # scope user: tokens whose `ver` is below it die; None: all of them (account deleted).
    min_version: int | None = Field(default=None)
    expires_at: datetime = Field(sa_column=utc_column(index=True))
