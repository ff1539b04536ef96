"""The inbox: each event is handled once per service, however often it arrives.

The handlers' writes and the inbox row of the event id commit in one
transaction, so a redelivered event is a no-op and a failed handler leaves
nothing behind (the bus retries it, then dead-letters it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taskflow_chassis.bus import EventBus
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent
from taskflow_chassis.logs import correlation_id
from taskflow_chassis.messaging import inbox_table
from taskflow_chassis.types import utcnow

__all__ = ["EventConsumer", "Handler", "handle_once"]

logger = logging.getLogger("taskflow.inbox")

Handler = Callable[[AsyncSession, CloudEvent], Awaitable[None]]


async def handle_once(database: Database, event: CloudEvent, handlers: Sequence[Handler]) -> bool:
    """Run the handlers for an event not seen before, in one transaction with its inbox row.

    Answers False for a duplicate (nothing runs). A handler's exception rolls
    everything back and propagates, so the bus retries the event.
    """
    token = correlation_id.set(event.correlationid)
    try:
        async with database.session() as session:
            try:
                # Claimed before the handlers run, by its key alone (no lookup first): a
                # copy already handled fails here, and a concurrent copy waits on the key
                # and then fails, instead of running the handlers twice.
                await session.execute(
                    insert(inbox_table).values(
                        event_id=event.id, event_type=event.type, handled_at=utcnow()
                    )
                )
            except IntegrityError:
                await session.rollback()
                logger.info("event %s (%s) already handled", event.id, event.type)
                return False
            for handler in handlers:
                await handler(session, event)
            await session.commit()
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
            # Only reachable when a routing key is a pattern wider than the handler map.
            logger.warning("no handler for %s (%s) on %s", event.id, event.type, self.queue)
            return
        await handle_once(self.database, event, handlers)

    async def start(self) -> None:
        await self.bus.subscribe(self.queue, list(self.handlers), self._on_event)

    async def stop(self) -> None:
        await self.bus.unsubscribe(self.queue)
