"""A service's reactions to events: one map from payload class to its handlers.

Each service declares ``EVENT_HANDLERS`` in its ``handlers.py`` (as Cosmic
Python does): ``{teams.MemberJoined: [replica.on_member_joined], ...}``. The
consumer parses each event's ``data`` once, into that class, and calls every
handler of the class in order, in one unit of work, with an ``EventContext``:
the unit of work, the envelope (id, time, subject), and the service's own
dependencies, built once in its composition root. A handler stages events on
``context.uow`` and never commits.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_contracts.base import EventPayload

from taskflow_chassis.events import CloudEvent
from taskflow_chassis.failures import PermanentError
from taskflow_chassis.unit_of_work import UnitOfWork

__all__ = ["EventContext", "EventHandler", "EventHandlers", "HandlerMap", "ParsedEvent"]

DepsT = TypeVar("DepsT", covariant=True)


@dataclass(frozen=True)
class EventContext(Generic[DepsT]):
    uow: UnitOfWork
    event: CloudEvent
    deps: DepsT

    @property
    def session(self) -> AsyncSession:
        return self.uow.session


# ``Any`` first: each handler names its own payload class, which the map's key guarantees.
EventHandler = Callable[[Any, EventContext[Any]], Awaitable[None]]
EventHandlers = Mapping[type[EventPayload], Sequence[EventHandler]]


class HandlerMap:
    """A service's ``EVENT_HANDLERS`` with the dependencies its handlers receive."""

    def __init__(self, handlers: EventHandlers, deps: object = None) -> None:
        self.deps = deps
        self._by_type: dict[str, tuple[type[EventPayload], Sequence[EventHandler]]] = {}
        for payload_class, class_handlers in handlers.items():
            if payload_class.event_type in self._by_type:
                raise ValueError(f"{payload_class.event_type} is mapped twice")
            self._by_type[payload_class.event_type] = (payload_class, tuple(class_handlers))

    def __bool__(self) -> bool:
        return bool(self._by_type)

    @property
    def event_types(self) -> list[str]:
        return list(self._by_type)

    def handles(self, event_type: str) -> bool:
        return event_type in self._by_type

    def parse(self, event: CloudEvent) -> ParsedEvent:
        """The event's payload, parsed once, with its handlers; PermanentError if neither fits."""
        try:
            payload_class, handlers = self._by_type[event.type]
        except KeyError:
            raise PermanentError(f"no handler for {event.type}") from None
        try:
            payload = payload_class.model_validate(event.data)
        except ValidationError as exc:
            raise PermanentError(f"{event.type} {event.id}: unreadable payload: {exc}") from exc
        return ParsedEvent(event, payload, handlers, self.deps)


@dataclass(frozen=True)
class ParsedEvent:
    event: CloudEvent
    payload: EventPayload
    handlers: Sequence[EventHandler]
    deps: object

    async def run(self, uow: UnitOfWork) -> None:
        """Every handler of the event, in order, in the caller's unit of work (no commit)."""
        context = EventContext(uow=uow, event=self.event, deps=self.deps)
        for handler in self.handlers:
            await handler(self.payload, context)
