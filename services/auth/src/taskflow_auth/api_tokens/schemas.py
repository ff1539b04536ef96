"""Personal API tokens as the API takes and shows them. The secret is in the answer to
its creation only."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from taskflow_chassis.openapi import EXAMPLE_CREATED_AT, EXAMPLE_TEAM_ID
from taskflow_chassis.types import UtcInstant, utcnow
from taskflow_contracts import permissions as P

# At most a year: a token that outlives its purpose is a liability nobody remembers.
MAX_LIFETIME = timedelta(days=365)
MAX_SCOPES = len(P.ALL_SCOPES)

TokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Scope = Annotated[str, StringConstraints(min_length=1, max_length=64)]

TOKEN_ID_EXAMPLE = "7c1e9a40-3b2d-4f85-a6e7-19d0c4b2f836"
SECRET_EXAMPLE = (
    "tfp_eyJhbGciOiJFZERTQSIsImtpZCI6Im14VEI4eXBndWczVE1rYUhsWk9GS3BfOVQzZ2J4eUNfcHlQQVNf"
    "cnVIUkkiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiI1ZjBjNmEzZS04ZDJiLTRjNzEtOWE0ZS0yYjdkMWU2ZjNj"
    "OTAiLCJ0eXBlIjoiYXBpIn0.pDLAaRrLUK9al30h0uo29Fx0nJPnixgsiPknGXvVYAk5KdLTIpF3RtUJlad"
)
READ_EXAMPLE: dict[str, Any] = {
    "id": TOKEN_ID_EXAMPLE,
    "name": "CI: move tasks on deploy",
    "scopes": ["tasks.read", "tasks.update"],
    "team_id": EXAMPLE_TEAM_ID,
    "created_at": EXAMPLE_CREATED_AT,
    "expires_at": "2027-02-28T09:30:00Z",
    "last_used_at": "2026-12-01T08:12:40Z",
    "last_used_from": "203.0.113.7",
}


class ApiTokenCreate(BaseModel):
    """A name, the scopes (permission strings of the catalogue, or read and personal
    scopes: GET /api/v1/permissions lists them), an expiry (``expires_at``, or
    ``expires_in_days``: one of them, at most a year ahead) and optionally the one team
    the token may act in."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "CI: move tasks on deploy",
                    "scopes": ["tasks.read", "tasks.update"],
                    "team_id": EXAMPLE_TEAM_ID,
                    "expires_in_days": 90,
                }
            ]
        },
    )

    name: TokenName
    scopes: list[Scope] = Field(min_length=1, max_length=MAX_SCOPES)
    team_id: uuid.UUID | None = None
    expires_at: UtcInstant | None = None
    expires_in_days: int | None = Field(default=None, ge=1, le=MAX_LIFETIME.days)

    @model_validator(mode="after")
    def check(self) -> ApiTokenCreate:
        unknown = P.unknown_scopes(self.scopes)
        if unknown:
            raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
        personal = set(self.scopes) & set(P.PERSONAL_SCOPES)
        if self.team_id is not None and personal:
            raise ValueError(
                "a token restricted to a team holds no personal scopes: "
                + ", ".join(sorted(personal))
            )
        if (self.expires_at is None) == (self.expires_in_days is None):
            raise ValueError("give expires_at or expires_in_days (one of them)")
        if self.expires_at is not None:
            now = utcnow()
            if self.expires_at <= now:
                raise ValueError("expires_at is in the past")
            if self.expires_at > now + MAX_LIFETIME:
                raise ValueError("expires_at is more than a year ahead")
        return self

    def expiry(self) -> datetime:
        if self.expires_at is not None:
            return self.expires_at
        assert self.expires_in_days is not None
        return utcnow() + timedelta(days=self.expires_in_days)


class ApiTokenRead(BaseModel):
    """A token as listed: never its secret."""

    model_config = ConfigDict(json_schema_extra={"examples": [READ_EXAMPLE]})

    id: uuid.UUID
    name: str
    scopes: list[str]
    team_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = Field(
        description="When a request last came with it (recorded at most once a minute)"
    )
    last_used_from: str | None = Field(description="The client address of that request")


class ApiTokenCreated(ApiTokenRead):
    """The new token, with its secret: shown this once, never again."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**READ_EXAMPLE, "token": SECRET_EXAMPLE}]}
    )

    token: str = Field(description="Send as `Authorization: Bearer <token>`; shown only now")
