"""Invitation API models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field
from taskflow_chassis.openapi import (
    EXAMPLE_CREATED_AT,
    EXAMPLE_OTHER_PERSON,
    EXAMPLE_OTHER_USER_ID,
    EXAMPLE_ROLE_ID,
    EXAMPLE_TEAM_ID,
)

from taskflow_teams.replica.schemas import PersonRef
from taskflow_teams.teams.models import InvitationStatus
from taskflow_teams.teams.schemas import EXAMPLE_TEAM_NAME

Token = Annotated[str, Field(min_length=1, max_length=512)]


class InvitationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"email": "charles@example.com", "role_id": EXAMPLE_ROLE_ID}]
        },
    )

    email: Annotated[EmailStr, Field(max_length=254)]
    role_id: uuid.UUID


class TokenBody(BaseModel):
    # The token from the link in the invitation's email.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"token": "Vb3q8Zp1xK0mRt5nYw2cLh7dGf4sJa9eTo6uNi-QkXc"}]},
    )

    token: Token


class InvitationRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "e7d2a9c4-1b6f-4e38-a05d-9c3b8f2e6a17",
                    "team_id": EXAMPLE_TEAM_ID,
                    "team_name": EXAMPLE_TEAM_NAME,
                    "email": "charles@example.com",
                    "role_id": EXAMPLE_ROLE_ID,
                    "role_name": "Developer",
                    "invited_by": EXAMPLE_OTHER_USER_ID,
                    "inviter": EXAMPLE_OTHER_PERSON,
                    "status": "pending",
                    "created_at": EXAMPLE_CREATED_AT,
                    "expires_at": "2026-12-07T09:30:00Z",
                    "responded_at": None,
                }
            ]
        }
    )

    id: uuid.UUID
    team_id: uuid.UUID
    team_name: str
    email: str
    role_id: uuid.UUID
    role_name: str
    invited_by: uuid.UUID
    inviter: PersonRef
    status: InvitationStatus
    created_at: datetime
    expires_at: datetime
    responded_at: datetime | None
