"""Participant profiles as the API takes and shows them. Inputs forbid unknown fields and
bound every string."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
PhoneNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Region = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")
]


class ParticipantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number: PhoneNumber
    region: Region | None = None
    display_name: DisplayName | None = None


class ParticipantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number: PhoneNumber | None = None
    region: Region | None = None
    display_name: DisplayName | None = None


class ParticipantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: uuid.UUID
    display_name: str | None
    phone_number: str = Field(description="E.164")
    region: str | None
    created_at: datetime
    updated_at: datetime
