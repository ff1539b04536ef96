"""Outbox atomic with the state change; the relay publishes each event exactly once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import func, insert, select
from taskflow_chassis.bus import EventBus, create_bus
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.bus.rabbitmq import RabbitMQBus
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.messaging import (
    create_messaging_tables,
    drop_messaging_tables,
    messaging_metadata,
    outbox_table,
)
from taskflow_chassis.outbox import OUTBOX_WRITTEN, OutboxRelay, add_to_outbox
from taskflow_chassis.testing import fresh_mysql_database, require_rabbitmq

from .conftest import _prepared, widgets


def event(n: int = 0) -> CloudEvent:
    return new_event("taskflow.test.widget.created.v1", source="/test", data={"n": n})


async def count(database: Database, table: sa.Table) -> int:
    async with database.session() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def pending(database: Database) -> int:
    async with database.session() as session:
        rows = await session.execute(
            select(func.count())
            .select_from(outbox_table)
            .where(outbox_table.c.published_at.is_(None))
        )
        return int(rows.scalar_one())


async def write(database: Database, *ns: int, commit: bool = True) -> list[CloudEvent]:
    """One business transaction: a widget row per event, and the events, in one commit."""
    events = [event(n) for n in ns or (0,)]
    async with database.session() as session:
        for e in events:
            await session.execute(insert(widgets).values(id=e.id, count=e.data["n"]))
        await add_to_outbox(session, *events)
        if commit:
            await session.commit()
        else:
            await session.rollback()
    return events


class Recorder:
    def __init__(self, expected: int = 1) -> None:
        self.seen: list[str] = []
        self.expected = expected
        self.done = asyncio.Event()

    async def __call__(self, e: CloudEvent) -> None:
        self.seen.append(e.id)
        if len(self.seen) >= self.expected:
            self.done.set()


@pytest.fixture
async def bus(memory_url: str) -> AsyncIterator[MemoryBus]:
    bus = create_bus(memory_url)
    assert isinstance(bus, MemoryBus)
    await bus.connect()
    yield bus
    await bus.close()


async def observe(bus: EventBus, expected: int = 1) -> Recorder:
    recorder = Recorder(expected)
    await bus.subscribe(f"observer-{uuid.uuid4().hex[:6]}", ["taskflow.test.#"], recorder)
    return recorder


# --- the outbox row and the state change commit or roll back together ---


async def test_outbox_row_commits_and_rolls_back_with_the_state(database: Database) -> None:
    await write(database, 1, commit=False)
    assert await count(database, widgets) == 0 and await count(database, outbox_table) == 0
    [committed] = await write(database, 2)
    assert await count(database, widgets) == 1 and await count(database, outbox_table) == 1
    async with database.session() as session:
        row = (await session.execute(select(outbox_table))).one()
    assert row.id == committed.id and row.type == committed.type
    assert CloudEvent.from_json(row.payload) == committed
    assert row.published_at is None and row.attempts == 0 and row.last_error is None
    assert row.created_at.tzinfo is not None


async def test_add_to_outbox_never_commits(database: Database) -> None:
    async with database.session() as session:
        await add_to_outbox(session, event())
        assert session.sync_session.info[OUTBOX_WRITTEN] is True
        assert session.in_transaction()
        await session.rollback()
        # A rolled-back write must not wake the relay on the session's next commit.
        assert OUTBOX_WRITTEN not in session.sync_session.info
    assert await count(database, outbox_table) == 0


# --- the relay ---


async def test_events_keep_creation_order(database: Database, bus: MemoryBus) -> None:
    recorder = await observe(bus)
    written = await write(database, *range(30))  # one call, one instant
    written += await write(database, 30)
    relay = OutboxRelay(database, bus, sweep_interval=60)
    assert await relay.publish_pending() == 31
    await bus.drain()
    assert recorder.seen == [e.id for e in written]


async def test_wake_on_commit_publishes_without_waiting_for_the_sweep(
    database: Database, bus: MemoryBus
) -> None:
    recorder = await observe(bus)
    relay = OutboxRelay(database, bus, sweep_interval=60)
    await relay.start()
    await asyncio.sleep(0.1)  # the start-up pass has run; the next sweep is a minute away
    [written] = await write(database, 1)
    await asyncio.wait_for(recorder.done.wait(), timeout=1)
    assert recorder.seen == [written.id]
    await relay.stop()


async def test_with_a_gap_a_lone_commit_goes_at_once_and_a_stream_in_few_passes(
    database: Database, bus: MemoryBus
) -> None:
    recorder = await observe(bus, expected=13)
    relay = OutboxRelay(database, bus, sweep_interval=60, gap=2.0)
    passes: list[int] = []
    publish_pending = relay.publish_pending

    async def counted() -> int:
        published = await publish_pending()
        if published:
            passes.append(published)
        return published

    relay.publish_pending = counted  # type: ignore[method-assign]
    await relay.start()
    try:
        await asyncio.sleep(2.2)  # quiet: the start-up pass is more than a gap ago
        started = asyncio.get_running_loop().time()
        first = Recorder()
        await bus.subscribe(f"observer-{uuid.uuid4().hex[:6]}", ["taskflow.test.#"], first)
        await write(database, 1)
        await asyncio.wait_for(first.done.wait(), timeout=5)
        assert asyncio.get_running_loop().time() - started < 1.5  # not held for the gap
        for n in range(12):  # a stream of commits over about 0.25 s
            await write(database, n)
            await asyncio.sleep(0.02)
        await asyncio.wait_for(recorder.done.wait(), timeout=5)
        for _ in range(100):  # the last pass returns after its events were delivered
            if sum(passes) == 13:
                break
            await asyncio.sleep(0.02)
        # Without the gap each commit woke a pass of its own: 13 passes.
        assert passes[0] == 1 and len(passes) <= 3 and sum(passes) == 13, passes
    finally:
        await relay.stop()


async def test_every_relay_of_a_database_is_woken(database: Database, bus: MemoryBus) -> None:
    # A relay stopped earlier (an app restarted in the same process) still has its hook.
    old = OutboxRelay(database, bus, sweep_interval=60)
    await old.start()
    await old.stop()
    recorder = await observe(bus)
    relay = OutboxRelay(database, bus, sweep_interval=60)
    await relay.start()
    await asyncio.sleep(0.1)
    [written] = await write(database, 1)
    await asyncio.wait_for(recorder.done.wait(), timeout=1)
    assert recorder.seen == [written.id]
    await relay.stop()


async def test_stopped_between_commit_and_publish_then_restarted(
    database: Database, bus: MemoryBus
) -> None:
    recorder = await observe(bus, expected=25)
    first = OutboxRelay(database, bus, sweep_interval=60)
    await first.start()
    await first.stop()  # the process dies; what it committed stays in the outbox
    written = [e for n in range(25) for e in await write(database, n)]
    assert await pending(database) == 25
    second = OutboxRelay(database, bus, sweep_interval=60, batch_size=10)
    await second.start()
    await asyncio.wait_for(recorder.done.wait(), timeout=5)
    await asyncio.sleep(0.2)  # room for a duplicate to show up
    await second.stop()
    await bus.drain()
    assert recorder.seen == [e.id for e in written]  # each once, in order
    assert await pending(database) == 0


class SlowBus(MemoryBus):
    """Takes a while to confirm, so a stop lands in the middle of a pass."""

    def __init__(self, hub: MemoryBus) -> None:
        super().__init__(f"memory://{hub.name}")
        self.publishing = asyncio.Event()

    async def publish(self, event: CloudEvent) -> None:
        self.publishing.set()
        await asyncio.sleep(0.05)
        await super().publish(event)


async def test_stop_lets_the_pass_finish_so_nothing_is_published_twice(
    database: Database, bus: MemoryBus
) -> None:
    recorder = await observe(bus, expected=6)
    written = await write(database, *range(6))
    slow = SlowBus(bus)
    await slow.connect()
    relay = OutboxRelay(database, slow, sweep_interval=60, batch_size=3)
    await relay.start()
    await slow.publishing.wait()
    await relay.stop()  # mid-pass: the pass ends and marks what it published
    await bus.drain()
    published_before_restart = len(recorder.seen)
    assert published_before_restart >= 1
    assert await pending(database) == 6 - published_before_restart
    restarted = OutboxRelay(database, bus, sweep_interval=60)
    await restarted.start()
    await asyncio.wait_for(recorder.done.wait(), timeout=5)
    await asyncio.sleep(0.1)
    await restarted.stop()
    await bus.drain()
    assert recorder.seen == [e.id for e in written]


class FlakyBus(MemoryBus):
    """Fails the first publish of one event, as a broker that did not confirm."""

    def __init__(self, hub: MemoryBus, fail_id: str) -> None:
        super().__init__(f"memory://{hub.name}")
        self.fail_id, self.failed = fail_id, False

    async def publish(self, event: CloudEvent) -> None:
        if event.id == self.fail_id and not self.failed:
            self.failed = True
            raise ConnectionError("no confirm")
        await super().publish(event)


async def test_unconfirmed_publish_stays_pending_and_order_holds(
    database: Database, bus: MemoryBus
) -> None:
    recorder = await observe(bus)
    written = await write(database, 0, 1, 2)
    flaky = FlakyBus(bus, written[1].id)
    await flaky.connect()
    relay = OutboxRelay(database, flaky, sweep_interval=60)
    assert await relay.publish_pending() == 1  # stops at the failure, keeps the order
    async with database.session() as session:
        row = (
            await session.execute(select(outbox_table).where(outbox_table.c.id == written[1].id))
        ).one()
    assert row.published_at is None and row.attempts == 1
    assert row.last_error == "ConnectionError: no confirm"
    assert await relay.publish_pending() == 2
    await bus.drain()
    assert recorder.seen == [e.id for e in written]


async def test_relay_loop_survives_a_broker_that_is_down(
    database: Database, memory_url: str
) -> None:
    bus = create_bus(memory_url)  # not connected yet: every publish fails
    recorder = await observe(bus)
    relay = OutboxRelay(database, bus, sweep_interval=0.05)
    await relay.start()
    [written] = await write(database, 1)
    await asyncio.sleep(0.2)  # several failing passes
    async with database.session() as session:
        attempts = (await session.execute(select(outbox_table.c.attempts))).scalar_one()
    assert attempts >= 2
    await bus.connect()
    await asyncio.wait_for(recorder.done.wait(), timeout=2)  # the sweep picked it up
    assert recorder.seen == [written.id]
    await relay.stop()
    await bus.close()


async def test_two_relays_on_postgres_publish_each_event_once(
    postgres_database: Database, bus: MemoryBus
) -> None:
    recorder = await observe(bus, expected=60)
    written = [e for n in range(0, 60, 6) for e in await write(postgres_database, *range(n, n + 6))]
    # Two replicas of the service, each with its own engine on the same database.
    other = Database(postgres_database.url)
    relays = [
        OutboxRelay(postgres_database, bus, sweep_interval=60, batch_size=5),
        OutboxRelay(other, bus, sweep_interval=60, batch_size=5),
    ]
    try:
        for relay in relays:
            await relay.start()
        await asyncio.wait_for(recorder.done.wait(), timeout=10)
        await asyncio.sleep(0.2)
        for relay in relays:
            await relay.stop()
    finally:
        await other.dispose()
    await bus.drain()
    counts = Counter(recorder.seen)
    assert set(counts) == {e.id for e in written}
    assert max(counts.values()) == 1
    assert await pending(postgres_database) == 0


@pytest.mark.mysql
async def test_outbox_on_mariadb_keeps_order_and_publishes_once(bus: MemoryBus) -> None:
    # MySQL's plain DATETIME drops microseconds: the outbox columns must keep them.
    async with fresh_mysql_database() as url:
        database = await _prepared(url)
        try:
            await write(database, 99, commit=False)
            assert await count(database, outbox_table) == 0
            recorder = await observe(bus, expected=20)
            written = [e for n in range(20) for e in await write(database, n)]
            relay = OutboxRelay(database, bus, sweep_interval=60, batch_size=7)
            await relay.start()
            await asyncio.wait_for(recorder.done.wait(), timeout=5)
            await relay.stop()
            await bus.drain()
            assert recorder.seen == [e.id for e in written]
        finally:
            await database.dispose()


@pytest.mark.rabbitmq
async def test_relay_publishes_exactly_once_on_rabbitmq(database: Database) -> None:
    url = require_rabbitmq()
    suffix = uuid.uuid4().hex[:8]
    exchange, queue = f"taskflow.test.{suffix}", f"test-relay-{suffix}"
    publisher = create_bus(url, exchange=exchange)
    consumer = create_bus(url, exchange=exchange)
    assert isinstance(consumer, RabbitMQBus)
    await publisher.connect()
    await consumer.connect()
    recorder = Recorder(expected=20)
    await consumer.subscribe(queue, ["taskflow.test.#"], recorder)
    try:
        written = [e for n in range(10) for e in await write(database, n)]
        relay = OutboxRelay(database, publisher, sweep_interval=60)
        await relay.start()
        await relay.stop()  # stopped right after start: some or none published
        restarted = OutboxRelay(database, publisher, sweep_interval=60)
        await restarted.start()
        await asyncio.sleep(0.1)
        written += [e for n in range(10, 20) for e in await write(database, n)]  # woken by commit
        await asyncio.wait_for(recorder.done.wait(), timeout=5)
        await asyncio.sleep(0.3)  # room for a duplicate to show up
        await restarted.stop()
        assert recorder.seen == [e.id for e in written]
        assert await pending(database) == 0
    finally:
        await consumer.delete_queues(queue)
        await consumer.delete_exchange()
        await consumer.close()
        await publisher.close()


# --- the migration helper builds the same tables as the metadata ---


def _schema(sync_conn: sa.Connection) -> dict[str, Any]:
    inspector = sa.inspect(sync_conn)
    return {
        name: (
            [(c["name"], c["nullable"]) for c in inspector.get_columns(name)],
            inspector.get_pk_constraint(name)["constrained_columns"],
            sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(name)),
        )
        for name in sorted(messaging_metadata.tables)
        if inspector.has_table(name)
    }


async def test_migration_helpers_match_the_metadata(tmp_path: Any) -> None:
    via_metadata = Database(f"sqlite:///{tmp_path / 'a.db'}")
    via_migration = Database(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        async with via_metadata.engine.begin() as conn:
            await conn.run_sync(messaging_metadata.create_all)
            expected = await conn.run_sync(_schema)

        def migrate(sync_conn: sa.Connection, up: bool) -> dict[str, Any]:
            op = Operations(MigrationContext.configure(sync_conn))
            (create_messaging_tables if up else drop_messaging_tables)(op)
            return _schema(sync_conn)

        async with via_migration.engine.begin() as conn:
            assert await conn.run_sync(migrate, True) == expected
            assert await conn.run_sync(migrate, False) == {}
        assert set(expected) == {"outbox_messages", "inbox_messages"}
        assert ("ix_outbox_messages_pending", ("published_at", "created_at")) in expected[
            "outbox_messages"
        ][2]
    finally:
        await via_metadata.dispose()
        await via_migration.dispose()
