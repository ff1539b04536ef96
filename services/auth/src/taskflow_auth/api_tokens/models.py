"""Personal API tokens: what each is allowed, until when, and when it was last used."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_auth.tables import AuthTable


class ApiToken(AuthTable, table=True):
    """One personal API token. The secret itself is never kept: ``secret_hash`` is its
    SHA-256 (a high-entropy secret needs no slow hash), enough to recognise it."""

    __tablename__ = "api_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True, ondelete="CASCADE")
    name: str = Field(max_length=100)
    # The scopes, space-separated, sorted.
    scope_list: str = Field(max_length=2000)
    team_id: uuid.UUID | None = Field(default=None)
    secret_hash: str = Field(max_length=64, unique=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # Written at most once a minute per token (api_tokens.service.UseRecorder).
    last_used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_used_from: str | None = Field(default=None, max_length=64)

    @property
    def scopes(self) -> list[str]:
        return self.scope_list.split()
