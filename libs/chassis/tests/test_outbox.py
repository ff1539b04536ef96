"""Outbox atomic with the state change; the relay publishes each event exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from sqlalchemy import func, insert, select
from taskflow_chassis.bus import create_bus
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.messaging import outbox_table
from taskflow_chassis.outbox import OutboxRelay, add_to_outbox

from .conftest import widgets


def event(n: int = 0) -> CloudEvent:
    return new_event("taskflow.test.widget.created.v1", source="/test", data={"n": n})


async def count(database: Database, table) -> int:  # type: ignore[no-untyped-def]
    async with database.session() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def write(database: Database, n: int, *, commit: bool = True) -> CloudEvent:
    e = event(n)
    async with database.session() as session:
        await session.execute(insert(widgets).values(id=str(uuid.uuid4()), count=n))
        await add_to_outbox(session, e)
        if commit:
            await session.commit()
        else:
            await session.rollback()
    return e


async def test_outbox_row_commits_and_rolls_back_with_the_state(database: Database) -> None:
    await write(database, 1, commit=False)
    assert await count(database, widgets) == 0 and await count(database, outbox_table) == 0
    await write(database, 2)
    assert await count(database, widgets) == 1 and await count(database, outbox_table) == 1


class Recorder:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.arrived = asyncio.Event()

    async def __call__(self, e: CloudEvent) -> None:
        self.seen.append(e.id)
        self.arrived.set()


async def test_wake_on_commit_publishes_without_waiting_for_the_sweep(
    database: Database, memory_url: str
) -> None:
    bus = create_bus(memory_url)
    await bus.connect()
    recorder = Recorder()
    await bus.subscribe("observer", ["taskflow.test.#"], recorder)
    relay = OutboxRelay(database, bus, sweep_interval=60)
    await relay.start()
    await asyncio.sleep(0.1)  # the start-up pass has run
    written = await write(database, 1)
    await asyncio.wait_for(recorder.arrived.wait(), timeout=2)
    assert recorder.seen == [written.id]
    await relay.stop()
    await bus.close()


async def test_stopped_between_commit_and_publish_then_restarted(
    database: Database, memory_url: str
) -> None:
    bus = create_bus(memory_url)
    await bus.connect()
    recorder = Recorder()
    await bus.subscribe("observer", ["taskflow.test.#"], recorder)
    first = OutboxRelay(database, bus, sweep_interval=60)
    await first.start()
    await first.stop()  # the process dies; what it committed stays in the outbox
    written = [await write(database, n) for n in range(25)]
    second = OutboxRelay(database, bus, sweep_interval=60, batch_size=10)
    await second.start()
    for _ in range(200):
        if len(recorder.seen) >= 25:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    await second.stop()
    await bus.drain()  # type: ignore[attr-defined]
    assert recorder.seen == [e.id for e in written]  # each once, in order
    async with database.session() as session:
        pending = await session.execute(
            select(outbox_table.c.id).where(outbox_table.c.published_at.is_(None))
        )
        assert pending.all() == []
    await bus.close()


class FlakyBus:
    """Fails the first publish of one event, as a broker that did not confirm."""

    def __init__(self, inner, fail_id: str) -> None:  # type: ignore[no-untyped-def]
        self.inner, self.fail_id, self.failed = inner, fail_id, False

    async def publish(self, e: CloudEvent) -> None:
        if e.id == self.fail_id and not self.failed:
            self.failed = True
            raise ConnectionError("no confirm")
        await self.inner.publish(e)


async def test_unconfirmed_publish_stays_pending_and_order_holds(
    database: Database, memory_url: str
) -> None:
    bus = create_bus(memory_url)
    await bus.connect()
    recorder = Recorder()
    await bus.subscribe("observer", ["taskflow.test.#"], recorder)
    written = [await write(database, n) for n in range(3)]
    relay = OutboxRelay(database, FlakyBus(bus, written[1].id), sweep_interval=60)  # type: ignore[arg-type]
    assert await relay.publish_pending() == 1
    async with database.session() as session:
        row = (
            await session.execute(select(outbox_table).where(outbox_table.c.id == written[1].id))
        ).one()
        assert row.published_at is None and row.attempts == 1 and "no confirm" in row.last_error
    assert await relay.publish_pending() == 2
    await bus.drain()  # type: ignore[attr-defined]
    assert recorder.seen == [e.id for e in written]
    await bus.close()


async def test_two_relays_on_postgres_publish_each_event_once(
    postgres_database: Database, memory_url: str
) -> None:
    bus = create_bus(memory_url)
    await bus.connect()
    recorder = Recorder()
    await bus.subscribe("observer", ["taskflow.test.#"], recorder)
    written = [await write(postgres_database, n) for n in range(60)]
    # Two replicas of the service, each with its own engine on the same database.
    other = Database(postgres_database.url)
    relays = [
        OutboxRelay(postgres_database, bus, sweep_interval=60, batch_size=5),
        OutboxRelay(other, bus, sweep_interval=60, batch_size=5),
    ]

    async def drain_with(relay: OutboxRelay) -> None:
        while await relay.publish_pending():
            pass

    await asyncio.gather(*(drain_with(r) for r in relays))
    await bus.drain()  # type: ignore[attr-defined]
    counts = Counter(recorder.seen)
    assert set(counts) == {e.id for e in written}
    assert max(counts.values()) == 1
    await other.dispose()
    await bus.close()


@pytest.mark.rabbitmq
async def test_relay_publishes_exactly_once_on_rabbitmq(database: Database) -> None:
    from taskflow_chassis.testing import require_rabbitmq

    url = require_rabbitmq()
    suffix = uuid.uuid4().hex[:8]
    exchange = f"taskflow.test.{suffix}"
    publisher = create_bus(url, exchange=exchange)
    consumer = create_bus(url, exchange=exchange)
    await publisher.connect()
    await consumer.connect()
    recorder = Recorder()
    queue = f"test-relay-{suffix}"
    await consumer.subscribe(queue, ["taskflow.test.#"], recorder)
    try:
        written = [await write(database, n) for n in range(10)]
        relay = OutboxRelay(database, publisher, sweep_interval=60)
        await relay.start()
        await relay.stop()  # stopped right after start: some or none published
        restarted = OutboxRelay(database, publisher, sweep_interval=60)
        await restarted.start()
        for _ in range(300):
            if len(recorder.seen) >= 10:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # room for a duplicate to show up
        await restarted.stop()
        assert recorder.seen == [e.id for e in written]
    finally:
        await consumer.delete_queues(queue)  # type: ignore[attr-defined]
        await consumer.delete_exchange()  # type: ignore[attr-defined]
        await consumer.close()
        await publisher.close()
