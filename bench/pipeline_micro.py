"""The event pipeline alone: N events from the outbox through RabbitMQ into a consumer.

    uv run --frozen python bench/pipeline_micro.py --events 5000 [--batch-size 50]

A fresh PostgreSQL database holds the outbox and inbox; N events are staged in the
outbox first (not measured), then two phases are timed one after the other:

- relay: the outbox relay publishes every row to RabbitMQ (confirmed) and marks it;
- consume: the service's consumer takes them from its queue into a no-op handler,
  writing each event's inbox row.

Each phase prints events per second and this process's CPU milliseconds per event
(the relay and the consumer run in it; PostgreSQL's and RabbitMQ's CPU is not
counted). ``--batch-size 1`` makes the consumer take one event per transaction, as
before batching, for a side-by-side run in the same conditions (the relay then
publishes one row per pass, slower than the old relay's sequential pass of 100).
Needs the local PostgreSQL and RabbitMQ (``TEST_POSTGRES_URL``,
``TEST_RABBITMQ_URL``), and cleans up its database, queues and exchange.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select
from taskflow_chassis.bus.rabbitmq import RabbitMQBus
from taskflow_chassis.db import Database
from taskflow_chassis.events import new_event
from taskflow_chassis.handlers import EventContext, HandlerMap
from taskflow_chassis.inbox import EventConsumer
from taskflow_chassis.messaging import inbox_table, messaging_metadata, outbox_table
from taskflow_chassis.outbox import OutboxRelay, add_to_outbox
from taskflow_chassis.testing import fresh_postgres_database, require_rabbitmq
from taskflow_chassis.unit_of_work import Publisher
from taskflow_contracts.base import EventPayload


class Ticked(EventPayload):
    event_type = "taskflow.bench.pipeline.ticked.v1"
    number: int


async def _ignore(payload: Ticked, context: EventContext[None]) -> None:
    return None


async def _handled(database: Database) -> int:
    async with database.session() as session:
        query = select(func.count()).select_from(inbox_table)
        return int((await session.execute(query)).scalar_one())


async def _pending(database: Database) -> int:
    async with database.session() as session:
        query = select(func.count()).where(outbox_table.c.published_at.is_(None))
        return int((await session.execute(query)).scalar_one())


def _report(phase: str, events: int, wall: float, cpu: float) -> None:
    print(
        f"{phase:8} {events} events in {wall:6.2f} s: {events / wall:8.0f} events/s, "
        f"{cpu * 1000 / events:6.3f} ms CPU per event"
    )


async def _timed(phase: str, events: int, done: Callable[[], Awaitable[bool]]) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    while not await done():  # noqa: ASYNC110 - polls the database, nothing to wait on
        await asyncio.sleep(0.05)
    _report(phase, events, time.perf_counter() - wall, time.process_time() - cpu)


async def run(events: int, batch_size: int) -> None:
    suffix = uuid.uuid4().hex[:8]
    url = require_rabbitmq()
    async with fresh_postgres_database() as database_url:
        database = Database(database_url, pool_size=5)
        async with database.engine.begin() as conn:
            await conn.run_sync(messaging_metadata.create_all)
        publisher = Publisher("bench")
        async with database.session() as session:
            for start in range(0, events, 1000):
                staged = [
                    new_event(Ticked.event_type, source="/bench", data=Ticked(number=n))
                    for n in range(start, min(start + 1000, events))
                ]
                await add_to_outbox(session, *staged)
            await session.commit()
        bus = RabbitMQBus(
            url,
            exchange=f"taskflow.bench.{suffix}",
            batch_size=batch_size,
            prefetch=max(100, batch_size),
        )
        await bus.connect()
        queue = f"bench-{suffix}"
        consumer = EventConsumer(
            database,
            bus,
            queue=queue,
            handlers=HandlerMap({Ticked: [_ignore]}),
            publisher=publisher,
        )
        # The settings' default (RELAY_BATCH_SIZE), or one row per pass for the unbatched run.
        relay_batch = 200 if batch_size > 1 else 1
        relay = OutboxRelay(database, bus, sweep_interval=0.05, batch_size=relay_batch)
        try:
            await consumer.start()  # declares and binds the queue
            await consumer.stop()

            async def published() -> bool:
                return await _pending(database) == 0

            await relay.start()
            await _timed("relay", events, published)
            await relay.stop()

            async def consumed() -> bool:
                return await _handled(database) == events

            await consumer.start()
            await _timed("consume", events, consumed)
            await consumer.stop()
        finally:
            await bus.delete_queues(queue)
            await bus.delete_exchange()
            await bus.close()
            await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=50, help="events per consumer batch")
    args = parser.parse_args()
    asyncio.run(run(args.events, args.batch_size))


if __name__ == "__main__":
    main()
