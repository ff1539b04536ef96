"""Token pairs, tokens to check, and the revocation list other services load."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from taskflow_contracts.auth import TokensRevoked

Token = Annotated[str, Field(min_length=1, max_length=4096)]


class VerifyRequest(BaseModel):
    """A token to check: an access token, or the token of an emailed link."""

    model_config = ConfigDict(extra="forbid")

    token: Token


class TokenPair(BaseModel):
    access: str
    refresh: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class RevocationList(BaseModel):
    items: list[TokensRevoked]
