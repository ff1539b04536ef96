"""Token pairs, tokens to check, and the revocation list other services load."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from taskflow_chassis.openapi import EXAMPLE_USER_ID
from taskflow_contracts.auth import TokensRevoked

Token = Annotated[str, Field(min_length=1, max_length=4096)]

# Tokens as they look: JWTs for Ada under the key id of the JWKS example (/jwks.json); the
# claims are cut short and the signatures made up.
ACCESS_TOKEN_EXAMPLE = (
    "eyJhbGciOiJFZERTQSIsImtpZCI6Im14VEI4eXBndWczVE1rYUhsWk9GS3BfOVQzZ2J4eUNfcHlQQVNfcnVIUk"
    "kiLCJ0eXAiOiJKV1QifQ"
    ".eyJzdWIiOiI1ZjBjNmEzZS04ZDJiLTRjNzEtOWE0ZS0yYjdkMWU2ZjNjOTAiLCJ0eXBlIjoiYWNjZXNzIiwiZX"
    "hwIjoxNzk2MDMxOTAwfQ"
    ".pDLAaRrLUK9al30h0uo29Fx0nJPnixgsiPknGXvVYAk5KdLTIpF3RtUJladzDPeJhbF0UMGujd86HZqatYlDeA"
)
REFRESH_TOKEN_EXAMPLE = (
    "eyJhbGciOiJFZERTQSIsImtpZCI6Im14VEI4eXBndWczVE1rYUhsWk9GS3BfOVQzZ2J4eUNfcHlQQVNfcnVIUk"
    "kiLCJ0eXAiOiJKV1QifQ"
    ".eyJzdWIiOiI1ZjBjNmEzZS04ZDJiLTRjNzEtOWE0ZS0yYjdkMWU2ZjNjOTAiLCJ0eXBlIjoicmVmcmVzaCIsIm"
    "V4cCI6MTc5NjYzNjcwMH0"
    ".9VdRv7aWe1ZS_0xg9pU0h2cq-lI4BGwQbqnogai2zrMX8E-58sSgTrgg-fwuXmD0syjaPKa6YSjKDqIiGduRjg"
)


class VerifyRequest(BaseModel):
    """A token to check: an access token, or the token of an emailed link."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"token": ACCESS_TOKEN_EXAMPLE},
                {"token": "ctpk5RAuE1F2FNaCOHSv-LtT_bmtmrQfiIwvLV0Iy7k"},
            ]
        },
    )

    token: Token


class TokenPair(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access": ACCESS_TOKEN_EXAMPLE,
                    "refresh": REFRESH_TOKEN_EXAMPLE,
                    "token_type": "Bearer",
                    "expires_in": 900,
                }
            ]
        }
    )

    access: str
    refresh: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class RevocationList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "scope": "family",
                            "key": "0d8f5b2a-6e1c-4a93-b7d4-3f9e2c1a8b60",
                            "user_id": EXAMPLE_USER_ID,
                            "min_version": None,
                            "expires_at": "2026-12-07T09:30:00Z",
                        }
                    ]
                }
            ]
        }
    )

    items: list[TokensRevoked]
