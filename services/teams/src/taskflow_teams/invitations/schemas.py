"""Invitation API models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from taskflow_teams.replica.schemas import PersonRef
from taskflow_teams.teams.models import InvitationStatus

Token = Annotated[str, Field(min_length=1, max_length=512)]


class InvitationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[EmailStr, Field(max_length=254)]
    role_id: uuid.UUID


class TokenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Token


class InvitationRead(BaseModel):
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
