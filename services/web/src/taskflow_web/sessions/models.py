"""Sign-in sessions, kept server-side: the browser holds only a random id in a cookie."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_web.tables import WebTable

FLASH_LENGTH = 500  # a message longer than this is shortened (rules.shortened)


class WebSession(WebTable, table=True):
    """One browser's session, keyed by the SHA-256 of the id its cookie carries (a leaked
    table gives no cookie). A row once signed in, or once an anonymous browser keeps a
    message for its next page (a visit alone writes none); the API tokens are encrypted
    at rest (Fernet)."""

    __tablename__ = "web_sessions"

    id_hash: str = Field(primary_key=True, max_length=64)
    csrf_token: str = Field(max_length=64)
    user_id: uuid.UUID | None = Field(default=None, index=True)
    username: str | None = Field(default=None, max_length=64)
    access_token: str | None = Field(default=None)
    refresh_token: str | None = Field(default=None)
    access_expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # One message for the next page (a session that ended, an email on its way).
    flash: str | None = Field(default=None, max_length=FLASH_LENGTH)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    # Idle or absolute end, whichever comes first; a sign-in resets it.
    expires_at: datetime = Field(sa_column=utc_column(index=True))
