"""Participant profiles as the API takes and shows them. Inputs forbid unknown fields and
bound every string."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict
from taskflow_chassis.openapi import EXAMPLE_CREATED_AT, EXAMPLE_UPDATED_AT, EXAMPLE_USER_ID

DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
PhoneNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Region = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{2}$")
]


class ParticipantCreate(BaseModel):
    # In E.164, or as dialled in the region given.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"phone_number": "+442079460958", "display_name": "Ada Lovelace"},
                {"phone_number": "020 7946 0958", "region": "GB", "display_name": "Ada Lovelace"},
            ]
        },
    )

    phone_number: PhoneNumber
    region: Region | None = None
    display_name: DisplayName | None = None


class ParticipantUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"phone_number": "+442079460018"}]}
    )

    phone_number: PhoneNumber | None = None
    region: Region | None = None
    display_name: DisplayName | None = None


# The profile registered above, as shown: the number stored as E.164.
PARTICIPANT_READ_EXAMPLE: JsonDict = {
    "user_id": EXAMPLE_USER_ID,
    "display_name": "Ada Lovelace",
    "phone_number": "+442079460958",
    "region": "GB",
    "created_at": EXAMPLE_CREATED_AT,
    "updated_at": EXAMPLE_UPDATED_AT,
}


class ParticipantRead(BaseModel):
    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [PARTICIPANT_READ_EXAMPLE]}
    )

    user_id: uuid.UUID
    display_name: str | None
    phone_number: str = Field(description="E.164")
    region: str | None
    created_at: datetime
    updated_at: datetime
