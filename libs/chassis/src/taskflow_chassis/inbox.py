"""The inbox: each event is handled once per service, however often it arrives.

The handlers' writes and the inbox row of the event id commit in one
transaction, so a redelivered event is a no-op and a failed handler leaves
nothing behind (the bus retries it, then dead-letters it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taskflow_chassis.bus import EventBus
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent
from taskflow_chassis.logs import correlation_id
from taskflow_chassis.messaging import inbox_table
from taskflow_chassis.types import utcnow

logger = logging.getLogger("taskflow.inbox")

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


async def handle_once(database: Database, event: CloudEvent, handlers: Sequence[Handler]) -> bool:
    """Run the handlers for an event not seen before. Answers False for a duplicate."""
    token = correlation_id.set(event.correlationid)
    try:
        async with database.session() as session:
            seen = await session.execute(
                select(inbox_table.c.event_id).where(inbox_table.c.event_id == event.id)
            )
            if seen.first() is not None:
                logger.info("event %s (%s) already handled", event.id, event.type)
                return False
            for handler in handlers:
                await handler(session, event)
            try:
                await session.execute(
                    insert(inbox_table).values(
                        event_id=event.id, event_type=event.type, handled_at=utcnow()
                    )
                )
                await session.commit()
            except IntegrityError:
                # The same event, delivered twice at once, won the race elsewhere.
                await session.rollback()
                return False
            return True
    finally:
        correlation_id.reset(token)


class EventConsumer:
    """Subscribes a service's queue to the types it handles (its handler map)."""

    def __init__(
        self,
        database: Database,
        bus: EventBus,
        *,
        service: str,
        handlers: Mapping[str, Sequence[Handler]],
    ) -> None:
        self.database = database
        self.bus = bus
        self.queue = service
        self.handlers = handlers

    async def _on_event(self, event: CloudEvent) -> None:
        handlers = self.handlers.get(event.type, ())
        if not handlers:
            return  # bound by a wider pattern than we handle: nothing to do
        await handle_once(self.database, event, handlers)

    async def start(self) -> None:
        await self.bus.subscribe(self.queue, list(self.handlers), self._on_event)

    async def stop(self) -> None:
        await self.bus.unsubscribe(self.queue)
