"""Auth tables. Kept apart from the API models in schemas.py."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel
from taskflow_chassis.types import utc_column, utcnow


class AuthTable(SQLModel, registry=registry()):
    """Base of the auth tables: their own metadata, apart from other services' in one process."""


class User(AuthTable, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(max_length=32)
    # Lower-cased copy, so "Alice" and "alice" cannot both sign up.
    username_key: str = Field(max_length=32, unique=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    # Carried in access tokens as `ver`; a password change or reset bumps it, which
    # refuses every access token issued before (exact, unlike second-precision `iat`).
    token_version: int = Field(default=0)
    # When the account last proved it receives mail at `email`; empty until then.
    email_verified_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


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


class PasswordResetToken(AuthTable, table=True):
    __tablename__ = "password_reset_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class TokenPurpose(StrEnum):
    VERIFY = "verify"  # proves the account's own address (sign-up, resend)
    CHANGE = "change"  # moves the account to the address it was sent to


class EmailVerificationToken(AuthTable, table=True):
    """A link sent to `email`, bound to it: following it verifies that address (and, for a
    change, makes it the account's address)."""

    __tablename__ = "email_verification_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    email: str = Field(max_length=254, index=True)
    purpose: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Participant(AuthTable, table=True):
    __tablename__ = "participants"

    user_id: uuid.UUID = Field(primary_key=True, foreign_key="users.id", ondelete="CASCADE")
    display_name: str | None = Field(default=None, max_length=100)
    phone_number: str = Field(max_length=20, unique=True)
    region: str | None = Field(default=None, max_length=2)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
