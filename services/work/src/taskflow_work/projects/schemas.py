"""Project API models."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=20_000)]
MAX_METADATA_BYTES = 10_000


def _bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        raise ValueError(f"metadata is limited to {MAX_METADATA_BYTES} bytes of JSON")
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(_bounded_metadata)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_dates(starts_on: date | None, due_on: date | None) -> None:
    if starts_on and due_on and due_on < starts_on:
        raise ValueError("due_on must not be before starts_on")


class ProjectCreate(Input):
    team_id: uuid.UUID
    name: Name
    description: Description | None = None
    starts_on: date | None = None
    due_on: date | None = None
    metadata: Metadata | None = None

    @model_validator(mode="after")
    def _dates(self) -> Self:
        _check_dates(self.starts_on, self.due_on)
        return self


class ProjectUpdate(Input):
    name: Name | None = None
    description: Description | None = None
    starts_on: date | None = None
    due_on: date | None = None
    metadata: Metadata | None = None
    archived: bool | None = None


class ProjectRead(BaseModel):
    id: uuid.UUID
    team_id: uuid.UUID
    name: str
    description: str | None
    starts_on: date | None
    due_on: date | None
    metadata: dict[str, Any]
    archived: bool
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime
