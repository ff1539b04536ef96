"""Accounts as the API takes and shows them. Inputs forbid unknown fields and bound every
string."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator

from taskflow_auth.credentials.schemas import NewPassword, Password
from taskflow_auth.participants.schemas import ParticipantRead
from taskflow_auth.tokens.schemas import Token

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.\-]+$"
    ),
]
Email = Annotated[EmailStr, Field(max_length=254)]


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
