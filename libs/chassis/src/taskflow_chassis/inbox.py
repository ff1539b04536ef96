"""The inbox: each event is handled once per service, however often it arrives.

The handlers' writes and the inbox row of the event id commit in one
transaction, so a redelivered event is a no-op and a failed handler leaves
nothing behind (the bus retries it, or parks it: ``taskflow_chassis.bus``).

While the service's own database is unreachable the consumer pauses: it holds
the event in hand (and so the queue behind it) and retries it once the database
answers, instead of churning through the queue's events and their retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from taskflow_chassis.bus import EventBus
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent
from taskflow_chassis.failures import PermanentError, TransientError
from taskflow_chassis.handlers import HandlerMap
from taskflow_chassis.logs import correlation_id
from taskflow_chassis.messaging import inbox_table
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

__all__ = ["EventConsumer", "handle_once"]

logger = logging.getLogger("taskflow.inbox")


async def handle_once(
    database: Database, event: CloudEvent, handlers: HandlerMap, publisher: Publisher
) -> bool:
    """Run the handlers for an event not seen before, in one unit of work with its inbox row.

    Answers False for a duplicate (nothing runs). A handler's exception rolls
    everything back and propagates, so the bus retries the event (or parks it).
    """
    parsed = handlers.parse(event)  # unreadable or unmapped: refused before any database work
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
            uow = UnitOfWork(session, publisher)
            await parsed.run(uow)
            await uow.commit()
            return True
    finally:
        correlation_id.reset(token)


class EventConsumer:
    """Subscribes a service's queue to the types it handles (its handler map)."""

    # How long one event is held while the database is down before it goes to the bus's
    # retry queue (RabbitMQ closes a channel whose delivery stays unacked for 30 min).
    pause_limit_seconds = 300.0
    # How often a dead-letter queue that holds anything is reported in the logs.
    parked_report_seconds = 60.0

    def __init__(
        self,
        database: Database,
        bus: EventBus,
        *,
        queue: str,
        handlers: HandlerMap,
        publisher: Publisher,
    ) -> None:
        self.database = database
        self.bus = bus
        self.queue = queue
        self.handlers = handlers
        self.publisher = publisher
        self.paused_since: float | None = None
        self._reporter: asyncio.Task[None] | None = None

    async def _on_event(self, event: CloudEvent) -> None:
        if not self.handlers.handles(event.type):
            # Only reachable through a routing key wider than the handler map, or a replay:
            # parked (not dropped) so that an operator sees it.
            raise PermanentError(f"no handler for {event.type} on {self.queue}")
        waited_since: float | None = None
        while True:
            try:
                await handle_once(self.database, event, self.handlers, self.publisher)
                return
            except Exception as exc:
                # Whatever the error says, a failure while the database does not answer
                # is the outage's, not the event's.
                if await self.database.ping():
                    raise  # the bus decides: back-off, or park
                waited_since = waited_since or time.monotonic()
                if time.monotonic() - waited_since > self.pause_limit_seconds:
                    raise TransientError(f"database unreachable: {exc}") from exc
                await self._wait_for_database(exc)

    async def _wait_for_database(self, error: Exception) -> None:
        if self.paused_since is None:
            self.paused_since = time.monotonic()
            logger.warning(
                "consumer of %s paused: its database is unreachable (%s: %s)",
                self.queue,
                type(error).__name__,
                error,
            )
        delay = 0.5
        started = time.monotonic()
        while not await self.database.ping():
            if time.monotonic() - started > self.pause_limit_seconds:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        logger.warning(
            "consumer of %s resumed: its database answers again after %.1f s",
            self.queue,
            time.monotonic() - self.paused_since,
        )
        self.paused_since = None

    async def start(self) -> None:
        await self.bus.subscribe(self.queue, self.handlers.event_types, self._on_event)
        self._reporter = asyncio.create_task(self._report_parked(), name=f"dlq:{self.queue}")

    async def stop(self) -> None:
        if self._reporter is not None:
            self._reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter
            self._reporter = None
        await self.bus.unsubscribe(self.queue)

    async def parked(self) -> int | None:
        """How many events the queue's dead-letter queue holds (None: the broker is away)."""
        try:
            # Bounded: a broker that stopped answering must not hold up /readyz.
            return await asyncio.wait_for(self.bus.dead_letter_count(self.queue), 1.0)
        except Exception:
            return None

    async def _report_parked(self) -> None:
        while True:
            await asyncio.sleep(self.parked_report_seconds)
            count = await self.parked()
            if count:
                logger.warning(
                    "%d events parked in %s.dlq: list them with `dlq list`, replay with "
                    "`dlq replay`",
                    count,
                    self.queue,
                )
