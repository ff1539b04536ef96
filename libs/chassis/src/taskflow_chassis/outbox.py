"""The transactional outbox and its relay.

``add_to_outbox`` writes events in the caller's transaction, so they commit or
roll back with the state change. The relay publishes pending rows in creation
order, marks each published only after the broker confirmed it, is woken right
after every commit that wrote to the outbox (under a stream of commits, passes
begin at least ``gap`` apart, so one carries several writes' events), and sweeps
on an interval for anything left behind (a crash between commit and publish).
Several replicas may run: rows are claimed with ``FOR UPDATE SKIP LOCKED`` where
the database has it, and the claim's row locks are held while publishing so
another replica skips them.

Delivery is at least once: a crash after the broker's confirm but before the
relay's commit publishes that event again, and the consumer's inbox drops it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from taskflow_chassis.bound import BoundWrite, bound_values, insert_rows_template
from taskflow_chassis.bus import EventBus, OutgoingEvent
from taskflow_chassis.db import Database, one_of
from taskflow_chassis.events import CloudEvent
from taskflow_chassis.messaging import outbox_table
from taskflow_chassis.pump import CommitWokenLoop
from taskflow_chassis.types import utcnow

__all__ = ["OUTBOX_WRITTEN", "OutboxRelay", "add_to_outbox", "outbox_insert"]

logger = logging.getLogger("taskflow.outbox")

# Set on the sync session's ``info`` by add_to_outbox: the commit hook wakes the relay.
OUTBOX_WRITTEN = "outbox_written"

_MAX_ERROR_LENGTH = 2000
_clock_lock = threading.Lock()
_last_created_at: datetime | None = None


def _creation_times(count: int) -> list[datetime]:
    """Strictly increasing timestamps within the process.

    The relay orders by ``created_at``; equal stamps (several events of one call,
    or two calls in the same microsecond) would leave their order to chance.
    """
    global _last_created_at
    with _clock_lock:
        start = utcnow()
        if _last_created_at is not None and start <= _last_created_at:
            start = _last_created_at + timedelta(microseconds=1)
        stamps = [start + timedelta(microseconds=i) for i in range(count)]
        _last_created_at = stamps[-1]
    return stamps


def _rows(events: tuple[CloudEvent, ...]) -> list[dict[str, Any]]:
    # Every column given: nothing for the database to default, nothing to read back.
    stamps = _creation_times(len(events))
    return [
        {
            "id": event.id,
            "type": event.type,
            "payload": event.to_json().decode(),
            "created_at": created_at,
            "attempts": 0,
        }
        for event, created_at in zip(events, stamps, strict=True)
    ]


async def add_to_outbox(session: AsyncSession, *events: CloudEvent) -> None:
    """Stage events in the caller's transaction (never commits); they leave only if it commits."""
    if not events:
        return
    await session.execute(insert(outbox_table), _rows(events))
    OutboxRelay.mark(session)


# The columns every outbox row is written with (``_rows``' keys).
_ROW_COLUMNS = ("id", "type", "payload", "created_at", "attempts")


def outbox_insert(session: AsyncSession, *events: CloudEvent) -> BoundWrite | None:
    """The events as one outbox INSERT (a row each, in order) for the caller to run in its
    transaction, inside a statement of its own (a write and its events in one round
    trip); the session's commit wakes the relay. A template per number of rows, the
    values bound (taskflow_chassis.bound). None: no events."""
    if not events:
        return None
    OutboxRelay.mark(session)
    rows = _rows(events)
    template = insert_rows_template(outbox_table, "outbox", _ROW_COLUMNS, len(rows))
    return BoundWrite(template, bound_values("outbox", rows))


class OutboxRelay(CommitWokenLoop):
    """Publishes a database's outbox to the bus; one per service process."""

    flag = OUTBOX_WRITTEN
    name = "outbox-relay"

    def __init__(
        self,
        database: Database,
        bus: EventBus,
        *,
        sweep_interval: float = 2.0,
        batch_size: int = 100,
        gap: float = 0.0,
    ) -> None:
        super().__init__(database, interval=sweep_interval, batch_size=batch_size, min_gap=gap)
        self.bus = bus
        self._pass_lock = asyncio.Lock()
        # Built once: a pass runs on every commit that wrote events, and building and keying
        # its statements for SQLAlchemy's cache cost more CPU than running them.
        claim = (
            select(outbox_table.c.id, outbox_table.c.type, outbox_table.c.payload)
            .where(outbox_table.c.published_at.is_(None))
            .order_by(outbox_table.c.created_at, outbox_table.c.id)
            .limit(batch_size)
        )
        if database.supports_skip_locked:
            claim = claim.with_for_update(skip_locked=True)
        self._claim = claim
        self._mark_published = (
            update(outbox_table)
            .where(one_of(outbox_table.c.id, "ids", database.dialect))
            .values(published_at=bindparam("at"), attempts=outbox_table.c.attempts + 1)
        )
        self._mark_failed = (
            update(outbox_table)
            .where(outbox_table.c.id == bindparam("failed_id"))
            .values(attempts=outbox_table.c.attempts + 1, last_error=bindparam("error"))
        )

    async def run_once(self) -> int:
        return await self.publish_pending()

    async def publish_pending(self) -> int:
        """One pass: publish up to ``batch_size`` pending events in order, all sent before
        the confirms are awaited, and mark the confirmed ones in one statement. Answers how
        many."""
        # A Core connection: no ORM session to set up and tear down on every pass.
        async with self._pass_lock, self.database.engine.begin() as connection:
            rows = (await connection.execute(self._claim)).all()
            if not rows:
                return 0
            # The stored JSON goes out as it is: not serialised again here, and read only for
            # the correlation id and time the broker's message carries beside it.
            outcome = await self.bus.publish_many(
                [OutgoingEvent.stored(row.id, row.type, row.payload) for row in rows]
            )
            published = [row.id for row in rows[: outcome.count]]
            if outcome.error is not None:
                # Those after it are sent again on the next pass, behind it, even if the
                # broker confirmed them: at least once, and the inbox drops the copies. Sent
                # together, they may reach consumers ahead of it: the bus keeps order only
                # while nothing fails (work orders memberships by team_seq).
                failed = rows[outcome.count].id
                error = f"{type(outcome.error).__name__}: {outcome.error}"
                logger.warning("publishing outbox event %s failed: %s", failed, error)
                await connection.execute(
                    self._mark_failed, {"failed_id": failed, "error": error[:_MAX_ERROR_LENGTH]}
                )
            if published:
                await connection.execute(self._mark_published, {"ids": published, "at": utcnow()})
            return len(published)
