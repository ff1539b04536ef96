"""The CloudEvents 1.0 envelope (JSON structured mode) every event travels in.

``type`` is ``taskflow.<service>.<entity>.<verb>.v<N>`` (lower case, words joined
by underscores); it is also the routing key on the topic exchange.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import to_jsonable_python

from taskflow_chassis.logs import current_correlation_id

__all__ = ["EVENT_TYPE", "CloudEvent", "new_event"]

EVENT_TYPE = re.compile(
    r"^taskflow\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[1-9][0-9]*$"
)


class CloudEvent(BaseModel):
    # Tolerant reader: extension attributes a newer producer adds are kept, not refused.
    model_config = ConfigDict(extra="allow")

    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: str
    source: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    subject: str | None = None
    datacontenttype: str = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)
    correlationid: str | None = None

    @field_validator("type")
    @classmethod
    def _versioned_type(cls, value: str) -> str:
        if not EVENT_TYPE.match(value):
            raise ValueError("type must look like taskflow.<service>.<entity>.<verb>.v<N>")
        return value

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> CloudEvent:
        return cls.model_validate_json(raw)


def new_event(
    type: str,
    *,
    source: str,
    data: BaseModel | Mapping[str, Any],
    subject: str | None = None,
    correlation_id: str | None = None,
) -> CloudEvent:
    """Build an event; ``correlation_id`` defaults to the current request's or handler's."""
    # JSON-native data (UUIDs and datetimes as strings), so the producer holds exactly
    # what a consumer will parse.
    payload: dict[str, Any] = (
        data.model_dump(mode="json")
        if isinstance(data, BaseModel)
        else to_jsonable_python(dict(data))
    )
    return CloudEvent(
        type=type,
        source=source,
        data=payload,
        subject=subject,
        correlationid=correlation_id or current_correlation_id(),
    )
