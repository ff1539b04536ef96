"""Auth API models. Inputs forbid unknown fields and bound every string."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$"
    ),
]
Email = Annotated[EmailStr, Field(max_length=254)]
# Upper bound keeps Argon2 cost bounded; the strength rules live in service.py.
Password = Annotated[str, Field(min_length=1, max_length=128)]
NewPassword = Annotated[str, Field(min_length=8, max_length=128)]
Token = Annotated[str, Field(min_length=1, max_length=4096)]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
PhoneNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Region = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")
]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(Input):
    username: Username
    email: Email
    password: NewPassword


class UserUpdate(Input):
    username: Username | None = None

    @model_validator(mode="before")
    @classmethod
    def email_has_its_own_route(cls, data: Any) -> Any:
        if isinstance(data, dict) and "email" in data:
            raise ValueError(
                "the email changes through POST /api/v1/auth/users/me/email "
                "(with the current password and a link sent to the new address)"
            )
        return data


class EmailChange(Input):
    new_email: Email
    current_password: Password


class LoginRequest(Input):
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


class RefreshRequest(Input):
    refresh: Token


class VerifyRequest(Input):
    token: Token


class PasswordChange(Input):
    current_password: Password
    new_password: NewPassword


class AccountDelete(Input):
    current_password: Password


class PasswordResetRequest(Input):
    email: Email


class PasswordResetConfirm(Input):
    token: Token
    new_password: NewPassword


class ParticipantCreate(Input):
    phone_number: PhoneNumber
    region: Region | None = None
    display_name: DisplayName | None = None


class ParticipantUpdate(Input):
    phone_number: PhoneNumber | None = None
    region: Region | None = None
    display_name: DisplayName | None = None


class TokenPair(BaseModel):
    access: str
    refresh: str
    token_type: str = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class ParticipantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: uuid.UUID
    display_name: str | None
    phone_number: str = Field(description="E.164")
    region: str | None
    created_at: datetime
    updated_at: datetime


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    email: str
    email_verified: bool = Field(
        description="Whether a link sent to `email` was followed; "
        "invitations can be accepted only then"
    )
    pending_email: str | None = Field(
        default=None, description="An address asked for, waiting for its link to be followed"
    )
    created_at: datetime
    participant: ParticipantRead | None = None


class Accepted(BaseModel):
    detail: str


class EmailVerified(BaseModel):
    email: str
    email_verified: bool = True
