"""Base of every event payload: tolerant readers, one class per versioned type."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

_REGISTRY: dict[str, type[EventPayload]] = {}


class EventPayload(BaseModel):
    """``data`` of one CloudEvent type. Consumers ignore fields they do not know."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        event_type = cls.__dict__.get("event_type")
        if event_type:
            if event_type in _REGISTRY:
                raise TypeError(f"{event_type} is declared twice")
            _REGISTRY[event_type] = cls


def payload_type(event_type: str) -> type[EventPayload]:
    """The payload model of a versioned event type (``KeyError`` if unknown)."""
    return _REGISTRY[event_type]


def all_event_types() -> dict[str, type[EventPayload]]:
    return dict(_REGISTRY)
