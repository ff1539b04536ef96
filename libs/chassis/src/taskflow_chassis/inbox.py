"""The inbox: each event is handled once per service, however often it arrives.

The handlers' writes and the inbox row of the event id commit in one
transaction, so a redelivered event is a no-op and a failed handler leaves
nothing behind (the bus retries it, or parks it: ``taskflow_chassis.bus``).

Events waiting together in the queue are applied as a batch: their inbox rows and
every handler's writes in one transaction, in arrival order (each event sees the
rows as the one before left them, as if it had its own transaction), those already
handled (or twice in the batch) skipped. If the batch fails the bus hands its
events to the consumer one by one, so a poison event is parked alone.

A service whose handlers are idempotent by nature and keep no rows (web: each moves a
counter in Redis, and moving it twice costs one more cache miss, nothing else) consumes
without an inbox (``inbox=False``): no inbox row, no transaction, not a statement for an
event its handlers answer without the database.

While the service's own database is unreachable the consumer pauses: it holds
the event in hand (and so the queue behind it) and retries it once the database
answers, instead of churning through the queue's events and their retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from taskflow_chassis.bus import EventBus
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent
from taskflow_chassis.failures import TransientError
from taskflow_chassis.handlers import HandlerMap, ParsedEvent
from taskflow_chassis.logs import correlation_id
from taskflow_chassis.messaging import inbox_table
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

__all__ = ["EventConsumer", "handle_batch", "handle_once"]

logger = logging.getLogger("taskflow.inbox")


# Built once (taskflow_chassis.bound's reason): every event runs them.
_CLAIM = insert(inbox_table).values(
    event_id=bindparam("event_id"),
    event_type=bindparam("event_type"),
    handled_at=bindparam("handled_at"),
)
_SEEN = select(inbox_table.c.event_id).where(
    inbox_table.c.event_id.in_(bindparam("ids", expanding=True))
)
# A batch's claim where the database can say which rows it wrote: one statement, not a
# look-up and then an insert. A copy another consumer's open transaction holds makes the
# insert wait on its key, then skip it if that transaction committed.
_CLAIM_NEW = {
    "postgresql": postgresql.insert(inbox_table)
    .on_conflict_do_nothing(index_elements=[inbox_table.c.event_id])
    .returning(inbox_table.c.event_id),
    "sqlite": sqlite.insert(inbox_table)
    .on_conflict_do_nothing(index_elements=[inbox_table.c.event_id])
    .returning(inbox_table.c.event_id),
}


async def handle_once(
    database: Database, event: CloudEvent, handlers: HandlerMap, publisher: Publisher
) -> bool:
    """Run the handlers for an event not seen before, in one unit of work with its inbox row.

    Answers False for a duplicate (nothing runs). A handler's exception rolls
    everything back and propagates, so the bus retries the event (or parks it).
    """
    # Unreadable or unmapped: refused before any database work.
    return await _handle_parsed(database, handlers.parse(event), publisher)


async def _handle_parsed(
    database: Database, parsed: ParsedEvent, publisher: Publisher, *, inbox: bool = True
) -> bool:
    """``inbox=False``: the handlers run whatever came before (they are idempotent), in a
    unit of work all the same, which touches the database only if they do."""
    token = correlation_id.set(parsed.event.correlationid)
    try:
        async with database.session() as session:
            if inbox and not await _claimed(session, parsed.event):
                return False
            uow = UnitOfWork(session, publisher)
            await parsed.run(uow)
            await uow.commit()
            return True
    finally:
        correlation_id.reset(token)


async def _claimed(session: AsyncSession, event: CloudEvent) -> bool:
    # Claimed before the handlers run, by its key alone (no lookup first): a copy already
    # handled fails here, and a concurrent copy waits on the key and then fails, instead
    # of running the handlers twice.
    try:
        await session.execute(
            _CLAIM, {"event_id": event.id, "event_type": event.type, "handled_at": utcnow()}
        )
        return True
    except IntegrityError:
        await session.rollback()
        logger.info("event %s (%s) already handled", event.id, event.type)
        return False


async def handle_batch(
    database: Database, events: Sequence[CloudEvent], handlers: HandlerMap, publisher: Publisher
) -> int:
    """Run the handlers of every event not seen before, in order, in one unit of work with
    their inbox rows; answer how many ran. Any failure (an unreadable event, a handler's
    exception, on MariaDB a copy claimed meanwhile by another consumer) rolls the whole
    batch back and propagates: the bus then hands the events over one by one."""
    fresh: dict[str, ParsedEvent] = {}
    for event in events:
        if event.id not in fresh:  # a copy in the same batch: the first one runs
            fresh[event.id] = handlers.parse(event)
    if not fresh:
        return 0
    async with database.session() as session:
        await _claim_batch(session, fresh)
        if not fresh:
            return 0
        await _run_in(session, list(fresh.values()), publisher)
        return len(fresh)


async def _claim_batch(session: AsyncSession, fresh: dict[str, ParsedEvent]) -> None:
    """Write the inbox rows of the events in ``fresh``, before their handlers run; take
    out of ``fresh`` those already handled."""
    now = utcnow()
    rows = [
        {"event_id": parsed.event.id, "event_type": parsed.event.type, "handled_at": now}
        for parsed in fresh.values()
    ]
    claim = _CLAIM_NEW.get(session.get_bind().dialect.name)
    if claim is not None:
        claimed = set((await session.execute(claim, rows)).scalars())
        handled = [event_id for event_id in fresh if event_id not in claimed]
    else:
        handled = list((await session.execute(_SEEN, {"ids": list(fresh)})).scalars())
    for event_id in handled:
        logger.info("event %s (%s) already handled", event_id, fresh.pop(event_id).event.type)
    if claim is None and fresh:
        # A copy another consumer holds makes this insert wait on its key, then fail, and
        # the batch goes one by one.
        await session.execute(_CLAIM, [row for row in rows if row["event_id"] in fresh])


async def _run_batch(
    database: Database, batch: Sequence[ParsedEvent], publisher: Publisher
) -> None:
    """Without an inbox (handlers idempotent by nature): the batch's handlers in one unit
    of work all the same, so what they gather (``uow.gathered``) is written once."""
    async with database.session() as session:
        await _run_in(session, batch, publisher)


async def _run_in(
    session: AsyncSession, batch: Sequence[ParsedEvent], publisher: Publisher
) -> None:
    uow = UnitOfWork(session, publisher)
    for parsed in batch:
        token = correlation_id.set(parsed.event.correlationid)
        try:
            await parsed.run(uow)
            # The next event reads what this one wrote, loaded afresh, as it would in a
            # transaction of its own (a Core update leaves no stale object behind).
            await session.flush()
            session.expunge_all()
        finally:
            correlation_id.reset(token)
    await uow.commit()


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
        inbox: bool = True,
    ) -> None:
        self.database = database
        self.bus = bus
        self.queue = queue
        self.handlers = handlers
        self.publisher = publisher
        self.inbox = inbox
        self.paused_since: float | None = None
        self._reporter: asyncio.Task[None] | None = None

    async def _on_batch(self, events: Sequence[CloudEvent]) -> None:
        if not self.inbox:
            await _run_batch(
                self.database, [self.handlers.parse(e) for e in events], self.publisher
            )
            return
        await handle_batch(self.database, events, self.handlers, self.publisher)

    async def _on_event(self, event: CloudEvent) -> None:
        # Once (the handler map looked up, the payload parsed), however often the database
        # is retried. No handler (a routing key wider than the map, or a replay) or an
        # unreadable payload: PermanentError, parked (not dropped) so that an operator sees it.
        parsed = self.handlers.parse(event)
        waited_since: float | None = None
        while True:
            try:
                await _handle_parsed(self.database, parsed, self.publisher, inbox=self.inbox)
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
        await self.bus.subscribe(
            self.queue, self.handlers.event_types, self._on_event, batch_handler=self._on_batch
        )
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
