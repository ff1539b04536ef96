"""Accounts, and the single-use links that reset a password or prove an email address."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_auth.tables import AuthTable


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
