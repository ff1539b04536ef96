"""Log-in and token rotation as the API takes them."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from taskflow_auth.credentials.schemas import Password
from taskflow_auth.tokens.schemas import REFRESH_TOKEN_EXAMPLE, Token


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"username": "ada", "password": "analytical-engine-1843"},
                {"email": "ada@example.com", "password": "analytical-engine-1843"},
            ]
        },
    )

    username: Annotated[str, Field(min_length=1, max_length=254)] | None = None
    email: Annotated[str, Field(min_length=1, max_length=254)] | None = None
    password: Password

    @model_validator(mode="after")
    def one_identifier(self) -> Self:
        if not (self.username or self.email):
            raise ValueError("give username or email")
        return self

    @property
    def login(self) -> str:
        return (self.username or self.email or "").strip()


class RefreshRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"refresh": REFRESH_TOKEN_EXAMPLE}]}
    )

    refresh: Token
