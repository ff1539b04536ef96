"""The transactional outbox and its relay.

``add_to_outbox`` writes events in the caller's transaction, so they commit or
roll back with the state change. The relay publishes pending rows in creation
order, marks each published only after the broker confirmed it, is woken right
after every commit that wrote to the outbox, and sweeps on an interval for
anything left behind (a crash between commit and publish). Several replicas may
run: rows are claimed with ``FOR UPDATE SKIP LOCKED`` where the database has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from taskflow_chassis.bus import EventBus
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent
from taskflow_chassis.messaging import outbox_table
from taskflow_chassis.types import utcnow

logger = logging.getLogger("taskflow.outbox")

OUTBOX_WRITTEN = "taskflow_outbox_written"


async def add_to_outbox(session: AsyncSession, *events: CloudEvent) -> None:
    """Stage events in the caller's transaction; they leave only if it commits."""
    if not events:
        return
    now = utcnow()
    await session.execute(
        insert(outbox_table),
        [
            {
                "id": event.id,
                "type": event.type,
                "payload": event.to_json().decode(),
                "created_at": now,
                "attempts": 0,
            }
            for event in events
        ],
    )
    session.sync_session.info[OUTBOX_WRITTEN] = True


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        bus: EventBus,
        *,
        sweep_interval: float = 2.0,
        batch_size: int = 100,
    ) -> None:
        self.database = database
        self.bus = bus
        self.sweep_interval = sweep_interval
        self.batch_size = batch_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pass_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        database.on_commit(self._after_commit)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(OUTBOX_WRITTEN, False):
            self.wake()

    def wake(self) -> None:
        if self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake.set()  # publish whatever an earlier run left behind
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loop = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.sweep_interval)
            self._wake.clear()
            try:
                while await self.publish_pending() == self.batch_size:
                    pass  # a full batch: more may be waiting
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("outbox relay pass failed; retrying on the next sweep")

    async def publish_pending(self) -> int:
        """One pass: publish up to ``batch_size`` pending events in order. Answers how many."""
        async with self._pass_lock, self.database.session() as session, session.begin():
            query = (
                select(outbox_table.c.id, outbox_table.c.payload)
                .where(outbox_table.c.published_at.is_(None))
                .order_by(outbox_table.c.created_at, outbox_table.c.id)
                .limit(self.batch_size)
            )
            if self.database.supports_skip_locked:
                query = query.with_for_update(skip_locked=True)
            rows = (await session.execute(query)).all()
            published = 0
            for row in rows:
                try:
                    await self.bus.publish(CloudEvent.from_json(row.payload))
                except Exception as exc:
                    logger.warning("publishing %s failed: %s", row.id, exc)
                    await session.execute(
                        update(outbox_table)
                        .where(outbox_table.c.id == row.id)
                        .values(attempts=outbox_table.c.attempts + 1, last_error=str(exc)[:2000])
                    )
                    break  # keep order: the rest wait for the next pass
                await session.execute(
                    update(outbox_table)
                    .where(outbox_table.c.id == row.id)
                    .values(published_at=utcnow(), attempts=outbox_table.c.attempts + 1)
                )
                published += 1
            return published
