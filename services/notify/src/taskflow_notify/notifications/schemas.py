"""Notify API models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.config import JsonDict
from taskflow_chassis.openapi import (
    EXAMPLE_OTHER_PERSON,
    EXAMPLE_OTHER_USER_ID,
    EXAMPLE_PROJECT_ID,
    EXAMPLE_TASK_ID,
    EXAMPLE_TEAM_ID,
    EXAMPLE_UPDATED_AT,
)

from taskflow_notify.replica.schemas import PersonRef

# Up to four weeks ahead.
LeadHours = Annotated[int, Field(ge=1, le=672)]

PREFERENCES_EXAMPLE: JsonDict = {
    "email_on_assignment": True,
    "email_on_comment": False,
    "email_reminders": True,
    "reminder_lead_hours": 48,
}


class NotificationRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "6c2e9b14-8f3a-4d71-b5e0-2a9f7d3c1b86",
                    "kind": "task_assigned",
                    "title": 'You were assigned "Write the launch post"',
                    "body": 'Grace Hopper assigned you "Write the launch post".',
                    "link": f"https://taskflow.example.com/tasks/{EXAMPLE_TASK_ID}",
                    "team_id": EXAMPLE_TEAM_ID,
                    "project_id": EXAMPLE_PROJECT_ID,
                    "task_id": EXAMPLE_TASK_ID,
                    "actor_id": EXAMPLE_OTHER_USER_ID,
                    "actor": EXAMPLE_OTHER_PERSON,
                    "created_at": EXAMPLE_UPDATED_AT,
                    "read_at": None,
                }
            ]
        }
    )

    id: uuid.UUID
    kind: str
    title: str
    body: str
    link: str | None
    # The ids of what it is about (each null when it is about none).
    team_id: uuid.UUID | None
    project_id: uuid.UUID | None
    task_id: uuid.UUID | None
    # Who caused it, with their names (null for a reminder).
    actor_id: uuid.UUID | None
    actor: PersonRef | None
    created_at: datetime
    read_at: datetime | None


class PreferencesRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [PREFERENCES_EXAMPLE]})

    email_on_assignment: bool
    email_on_comment: bool
    email_reminders: bool
    reminder_lead_hours: int


class PreferencesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [PREFERENCES_EXAMPLE]})

    email_on_assignment: bool
    email_on_comment: bool
    email_reminders: bool
    reminder_lead_hours: LeadHours


def _optional(schema: JsonDict) -> None:
    """A field that may be left out but not null: its schema has no null and no default."""
    schema.pop("default", None)
    branches = schema.pop("anyOf", None)
    if isinstance(branches, list):
        [kept] = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
        assert isinstance(kept, dict)
        schema.update(kept)


class PreferencesPatch(BaseModel):
    """Some of the preferences: a field left out keeps its value; none may be null."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"email_on_comment": False, "reminder_lead_hours": 48}]},
    )

    # None only stands for "left out": not in the schema, and a null sent is refused.
    email_on_assignment: bool | None = Field(None, json_schema_extra=_optional)
    email_on_comment: bool | None = Field(None, json_schema_extra=_optional)
    email_reminders: bool | None = Field(None, json_schema_extra=_optional)
    reminder_lead_hours: LeadHours | None = Field(None, json_schema_extra=_optional)

    @field_validator("*", mode="before")
    @classmethod
    def not_null(cls, value: Any) -> Any:
        # Only a value sent is validated: a field left out is not changed, a null is refused.
        if value is None:
            raise ValueError("may be left out, but not null")
        return value


class ReadAll(BaseModel):
    # How many notifications were unread and are read now.
    model_config = ConfigDict(json_schema_extra={"examples": [{"marked": 3}]})

    marked: int
