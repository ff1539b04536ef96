"""Project API models."""

from __future__ import annotations

import json
import math
import uuid
from datetime import date, datetime
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, model_validator
from pydantic.config import JsonDict
from taskflow_chassis.edge import unstorable
from taskflow_chassis.openapi import (
    EXAMPLE_CREATED_AT,
    EXAMPLE_OTHER_USER_ID,
    EXAMPLE_PROJECT_ID,
    EXAMPLE_TEAM_ID,
    EXAMPLE_UPDATED_AT,
)

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=20_000)]
MAX_METADATA_BYTES = 10_000
# Objects and lists within one another, the metadata object itself included.
MAX_METADATA_DEPTH = 16
# Keys and list items, counted through every level.
MAX_METADATA_ITEMS = 200


def metadata_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a project's metadata, or None when it can. Never raises,
    so it also guards what is read back: walked with a stack, not by recursion."""
    if not isinstance(value, dict):
        return "metadata must be a JSON object"
    items = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            return f"metadata may nest at most {MAX_METADATA_DEPTH} objects or lists deep"
        children = list(node.values()) if isinstance(node, dict) else node
        items += len(children)
        if items > MAX_METADATA_ITEMS:
            return f"metadata may hold at most {MAX_METADATA_ITEMS} keys and list items"
        texts = [*node, *children] if isinstance(node, dict) else children
        if any(isinstance(text, str) and unstorable(text) for text in texts):
            return "metadata text may not hold NUL or an unpaired surrogate"
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif isinstance(child, float) and not math.isfinite(child):
                return "metadata numbers must be finite"
    if len(json.dumps(value)) > MAX_METADATA_BYTES:
        return f"metadata is limited to {MAX_METADATA_BYTES} bytes of JSON"
    return None


def _bounded_metadata(value: dict[str, Any]) -> dict[str, Any]:
    problem = metadata_problem(value)
    if problem:
        raise ValueError(problem)
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(_bounded_metadata)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The examples' project, as created and as shown.
PROJECT_EXAMPLE: JsonDict = {
    "name": "Website relaunch",
    "description": "The new site, its launch post and the newsletter.",
    "starts_on": "2026-12-01",
    "due_on": "2027-01-15",
    "metadata": {"client": "Analytical Engines Ltd", "budget_eur": 12000},
}


def _check_dates(starts_on: date | None, due_on: date | None) -> None:
    if starts_on and due_on and due_on < starts_on:
        raise ValueError("due_on must not be before starts_on")


class ProjectCreate(Input):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "team_id": EXAMPLE_TEAM_ID,
                    **PROJECT_EXAMPLE,
                }
            ]
        }
    )

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
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"due_on": "2027-01-29"}, {"archived": True}]}
    )

    name: Name | None = None
    description: Description | None = None
    starts_on: date | None = None
    due_on: date | None = None
    metadata: Metadata | None = None
    archived: bool | None = None


class ProjectRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_PROJECT_ID,
                    "team_id": EXAMPLE_TEAM_ID,
                    **PROJECT_EXAMPLE,
                    "archived": False,
                    "created_by": EXAMPLE_OTHER_USER_ID,
                    "created_at": EXAMPLE_CREATED_AT,
                    "updated_at": EXAMPLE_UPDATED_AT,
                }
            ]
        }
    )

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
