"""Webhook API models: endpoints (the secret only at creation and rotation) and deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator
from pydantic.config import JsonDict
from taskflow_chassis.openapi import EXAMPLE_TEAM_ID, EXAMPLE_UPDATED_AT

from taskflow_notify.webhooks.rules import ALL_EVENTS, WEBHOOK_EVENT_TYPES, unknown_event_types

EXAMPLE_ENDPOINT_ID = "5d1c7a2e-3f4b-4e8a-9c61-0b2d4f6a8e13"
EXAMPLE_DELIVERY_ID = "8a3f0c6d-1e2b-4c5d-9f70-6b4e2a1c3d58"
EXAMPLE_URL = "https://ci.example.com/hooks/taskflow"
EXAMPLE_TYPES: list[JsonValue] = ["taskflow.work.task.created.v1", "taskflow.work.task.updated.v1"]
EXAMPLE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

ENDPOINT_EXAMPLE: JsonDict = {
    "id": EXAMPLE_ENDPOINT_ID,
    "team_id": EXAMPLE_TEAM_ID,
    "url": EXAMPLE_URL,
    "description": "CI",
    "event_types": EXAMPLE_TYPES,
    "enabled": True,
    "disabled_at": None,
    "disabled_reason": None,
    "rotation_ends_at": None,
    "created_by": "0b7c3a52-9e14-4f6d-8a21-3c5e7d9f1b46",
    "created_at": EXAMPLE_UPDATED_AT,
    "updated_at": EXAMPLE_UPDATED_AT,
}

MAX_URL_LENGTH = 2000


def _check_url(value: str) -> str:
    value = value.strip()
    if not value.lower().startswith("https://"):
        raise ValueError("the endpoint must be an https:// URL")
    if any(c.isspace() for c in value) or "#" in value:
        raise ValueError("the URL may hold no spaces and no fragment")
    return value


def _check_types(value: list[str]) -> list[str]:
    unknown = unknown_event_types(value)
    if unknown:
        raise ValueError(
            f"unknown event types {', '.join(unknown)}; choose from "
            f"{', '.join(sorted(WEBHOOK_EVENT_TYPES))}, or {ALL_EVENTS} for all"
        )
    if not value:
        raise ValueError("name at least one event type, or * for all")
    return value


EventTypes = Annotated[
    list[Annotated[str, Field(max_length=200)]],
    Field(min_length=1, max_length=len(WEBHOOK_EVENT_TYPES) + 1),
]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"url": EXAMPLE_URL, "description": "CI", "event_types": EXAMPLE_TYPES}]
        },
    )

    url: str = Field(max_length=MAX_URL_LENGTH, description="An https:// URL on a public address.")
    description: str = Field(default="", max_length=200)
    event_types: EventTypes = Field(
        description="CloudEvent types (GET .../webhooks/event-types lists them), or * for all."
    )

    _url = field_validator("url")(_check_url)
    _types = field_validator("event_types")(_check_types)


class WebhookUpdate(BaseModel):
    """Only the fields sent change; ``enabled: true`` re-enables a disabled endpoint."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"event_types": ["*"]}, {"enabled": True}]},
    )

    url: str | None = Field(default=None, max_length=MAX_URL_LENGTH)
    description: str | None = Field(default=None, max_length=200)
    event_types: EventTypes | None = None
    enabled: bool | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    @field_validator("event_types")
    @classmethod
    def _types(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_types(value)


class WebhookRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [ENDPOINT_EXAMPLE]})

    id: uuid.UUID
    team_id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    # While a rotation's grace lasts, deliveries carry the old secret's signature too.
    rotation_ends_at: datetime | None
    # Who answers for it: its creator, or whoever last changed its URL or enabled it again.
    # It is disabled when they leave the team or lose webhooks.manage.
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime


class WebhookList(BaseModel):
    """Every endpoint of the team (at most 20), oldest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [ENDPOINT_EXAMPLE]}]})

    items: list[WebhookRead]


class WebhookWithSecret(WebhookRead):
    """Answered once, at creation or rotation: the secret is not shown again."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{**ENDPOINT_EXAMPLE, "secret": EXAMPLE_SECRET}]}
    )

    secret: str = Field(description="whsec_<base64 key>: verify webhook-signature with it.")


class EventTypeList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"event_types": EXAMPLE_TYPES}]})

    event_types: list[str]


class DeliveryRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": EXAMPLE_DELIVERY_ID,
                    "endpoint_id": EXAMPLE_ENDPOINT_ID,
                    "event_id": "2f0e5b9c-7a14-4d36-8e21-c5b7a9d0f342",
                    "event_type": "taskflow.work.task.created.v1",
                    "status": "delivered",
                    "attempts": 2,
                    "next_attempt_at": None,
                    "last_attempt_at": EXAMPLE_UPDATED_AT,
                    "last_status_code": 200,
                    "last_latency_ms": 84,
                    "last_error": None,
                    "redelivery_of": None,
                    "created_at": EXAMPLE_UPDATED_AT,
                    "delivered_at": EXAMPLE_UPDATED_AT,
                }
            ]
        }
    )

    id: uuid.UUID = Field(description="Sent as webhook-id; the same on each automatic retry.")
    endpoint_id: uuid.UUID
    event_id: str
    event_type: str
    status: str = Field(description="pending, delivered or failed")
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_latency_ms: int | None
    last_error: str | None
    redelivery_of: uuid.UUID | None
    created_at: datetime
    delivered_at: datetime | None
