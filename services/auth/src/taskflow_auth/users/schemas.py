"""Accounts as the API takes and shows them. Inputs forbid unknown fields and bound every
string."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints, model_validator
from taskflow_chassis.openapi import EXAMPLE_CREATED_AT, EXAMPLE_USER_ID

from taskflow_auth.credentials.schemas import NewPassword, Password
from taskflow_auth.participants.schemas import PARTICIPANT_READ_EXAMPLE, ParticipantRead
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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "ada",
                    "email": "ada@example.com",
                    "password": "analytical-engine-1843",
                }
            ]
        }
    )

    username: Username
    email: Email
    password: NewPassword


class UserUpdate(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"username": "ada.lovelace"}]})

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"new_email": "ada@lovelace.example", "current_password": "analytical-engine-1843"}
            ]
        }
    )

    new_email: Email
    current_password: Password


class PasswordChange(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "current_password": "analytical-engine-1843",
                    "new_password": "difference-engine-1822",
                }
            ]
        }
    )

    current_password: Password
    new_password: NewPassword


class AccountDelete(Input):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"current_password": "analytical-engine-1843"}]}
    )

    current_password: Password


class PasswordResetRequest(Input):
    model_config = ConfigDict(json_schema_extra={"examples": [{"email": "ada@example.com"}]})

    email: Email


class PasswordResetConfirm(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "token": "UpnbTNkPsCRMn_qx64Iv-eCGIlRQeFNQJnsm1iq8phk",
                    "new_password": "difference-engine-1822",
                }
            ]
        }
    )

    token: Token
    new_password: NewPassword


class UserRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_USER_ID,
                    "username": "ada",
                    "email": "ada@example.com",
                    "email_verified": True,
                    "pending_email": None,
                    "created_at": EXAMPLE_CREATED_AT,
                    "participant": PARTICIPANT_READ_EXAMPLE,
                }
            ]
        },
    )

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
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"detail": "A confirmation link is on its way to the new address."}]
        }
    )

    detail: str


class EmailVerified(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "ada@example.com", "email_verified": True}]}
    )

    email: str
    email_verified: bool = True
