"""The inbox: a redelivered event is a no-op; a failed handler leaves nothing behind."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.bus import create_bus
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.inbox import EventConsumer, handle_once
from taskflow_chassis.logs import current_correlation_id
from taskflow_chassis.messaging import inbox_table, outbox_table
from taskflow_chassis.outbox import add_to_outbox
from taskflow_chassis.testing import postgres_outage, require_rabbitmq

from .conftest import widgets

TYPE = "taskflow.test.widget.bumped.v1"


async def bump(session: AsyncSession, event: CloudEvent) -> None:
    widget_id = event.data["widget_id"]
    row = (await session.execute(select(widgets.c.count).where(widgets.c.id == widget_id))).first()
    if row is None:
        await session.execute(insert(widgets).values(id=widget_id, count=1))
    else:
        await session.execute(
            update(widgets).where(widgets.c.id == widget_id).values(count=row.count + 1)
        )


async def widget_count(database: Database, widget_id: str) -> int | None:
    async with database.session() as session:
        row = (
            await session.execute(select(widgets.c.count).where(widgets.c.id == widget_id))
        ).first()
        return None if row is None else int(row.count)


async def test_redelivery_is_a_no_op(database: Database) -> None:
    event = new_event(TYPE, source="/test", data={"widget_id": "w1"})
    assert await handle_once(database, event, [bump]) is True
    assert await handle_once(database, event, [bump]) is False
    assert await handle_once(database, CloudEvent.from_json(event.to_json()), [bump]) is False
    assert await widget_count(database, "w1") == 1
    other = new_event(TYPE, source="/test", data={"widget_id": "w1"})
    assert await handle_once(database, other, [bump]) is True
    assert await widget_count(database, "w1") == 2


async def test_concurrent_duplicates_apply_once(database: Database) -> None:
    calls: list[str] = []

    async def slow_bump(session: AsyncSession, event: CloudEvent) -> None:
        calls.append(event.id)
        await asyncio.sleep(0.05)  # the copies overlap
        await bump(session, event)

    event = new_event(TYPE, source="/test", data={"widget_id": "w2"})
    results = await asyncio.gather(
        *(handle_once(database, event, [slow_bump]) for _ in range(5)), return_exceptions=True
    )
    # One copy wins; the others are quiet duplicates, not errors for the bus to retry.
    assert sorted(results, key=str) == [False, False, False, False, True]
    assert calls == [event.id]
    assert await widget_count(database, "w2") == 1


async def test_failing_handler_rolls_back_and_records_nothing(database: Database) -> None:
    async def explode(session: AsyncSession, event: CloudEvent) -> None:
        raise RuntimeError("nope")

    event = new_event(TYPE, source="/test", data={"widget_id": "w3"})
    with pytest.raises(RuntimeError):
        await handle_once(database, event, [bump, explode])
    assert await widget_count(database, "w3") is None
    async with database.session() as session:
        assert (
            await session.execute(select(func.count()).select_from(inbox_table))
        ).scalar_one() == 0
    assert await handle_once(database, event, [bump]) is True


async def test_correlation_id_is_restored_after_a_failing_handler(database: Database) -> None:
    seen: list[str | None] = []

    async def explode(session: AsyncSession, event: CloudEvent) -> None:
        seen.append(current_correlation_id())
        raise RuntimeError("nope")

    incoming = new_event(TYPE, source="/test", data={}, correlation_id="trace-7")
    with pytest.raises(RuntimeError):
        await handle_once(database, incoming, [explode])
    assert seen == ["trace-7"] and current_correlation_id() is None


async def test_handler_events_carry_the_incoming_correlation_id(database: Database) -> None:
    async def react(session: AsyncSession, event: CloudEvent) -> None:
        await add_to_outbox(
            session, new_event("taskflow.test.widget.noticed.v1", source="/t", data={})
        )

    incoming = new_event(TYPE, source="/test", data={}, correlation_id="trace-5")
    await handle_once(database, incoming, [react])
    assert current_correlation_id() is None
    async with database.session() as session:
        payload = (await session.execute(select(outbox_table.c.payload))).scalar_one()
    assert CloudEvent.from_json(payload).correlationid == "trace-5"


async def test_consumer_routes_by_type_through_the_bus(database: Database, memory_url: str) -> None:
    bus = create_bus(memory_url)
    await bus.connect()
    consumer = EventConsumer(database, bus, service="widgets", handlers={TYPE: [bump]})
    await consumer.start()
    event = new_event(TYPE, source="/test", data={"widget_id": "w4"})
    await bus.publish(event)
    await bus.publish(event)  # at-least-once delivery: a duplicate arrives
    await bus.publish(
        new_event("taskflow.test.widget.ignored.v1", source="/test", data={"widget_id": "w4"})
    )
    await bus.drain()  # type: ignore[attr-defined]
    assert await widget_count(database, "w4") == 1
    await consumer.stop()
    await bus.close()


async def test_consumer_retries_then_dead_letters_a_failing_event_without_side_effects(
    database: Database, memory_url: str
) -> None:
    bus = create_bus(memory_url, max_retries=2, retry_base_seconds=0.01)
    await bus.connect()

    async def half_done(session: AsyncSession, event: CloudEvent) -> None:
        await bump(session, event)
        raise LookupError("team not in the replica")

    consumer = EventConsumer(database, bus, service="widgets", handlers={TYPE: [half_done]})
    await consumer.start()
    event = new_event(TYPE, source="/test", data={"widget_id": "w6"})
    await bus.publish(event)
    await bus.drain()  # type: ignore[attr-defined]
    [letter] = await bus.dead_letters("widgets")
    assert letter.event == event and letter.attempts == 3
    assert letter.error == "LookupError: team not in the replica"
    assert await widget_count(database, "w6") is None  # every attempt rolled back
    async with database.session() as session:
        assert (await session.execute(select(inbox_table))).all() == []
    await consumer.stop()
    await bus.close()


async def test_an_event_of_a_type_without_handler_is_parked_not_dropped(
    database: Database, memory_url: str
) -> None:
    bus = create_bus(memory_url)
    await bus.connect()
    consumer = EventConsumer(database, bus, service="widgets", handlers={TYPE: [bump]})
    # A wider binding than the handler map (or a replay) brings a type nobody handles.
    await bus.subscribe("widgets", ["taskflow.test.#"], consumer._on_event)
    stray = new_event("taskflow.test.widget.melted.v1", source="/test", data={})
    await bus.publish(stray)
    await bus.drain()  # type: ignore[attr-defined]
    [letter] = await bus.dead_letters("widgets")
    assert letter.id == stray.id and letter.attempts == 1
    assert "no handler for taskflow.test.widget.melted.v1" in letter.error
    await bus.close()


async def test_consumer_pauses_while_its_database_is_down_and_resumes_in_order(
    postgres_database: Database, memory_url: str
) -> None:
    database = postgres_database
    bus = create_bus(memory_url, max_retries=1, retry_base_seconds=0.01)
    await bus.connect()
    handled: list[str] = []

    async def record(session: AsyncSession, event: CloudEvent) -> None:
        await bump(session, event)
        handled.append(event.data["widget_id"])

    consumer = EventConsumer(database, bus, service="widgets", handlers={TYPE: [record]})
    await consumer.start()
    async with postgres_outage(str(database.engine.url)):
        for n in range(3):
            await bus.publish(new_event(TYPE, source="/test", data={"widget_id": f"p{n}"}))
        await asyncio.sleep(3)  # far longer than max_retries' back-off would allow
        assert consumer.paused_since is not None
        assert handled == [] and await bus.dead_letters("widgets") == []
        queue = bus.queues["widgets"]  # type: ignore[attr-defined]
        assert queue.retrying == 0  # held, not churned through the retry path
    await bus.drain(timeout=30)  # type: ignore[attr-defined]
    assert handled == ["p0", "p1", "p2"]
    assert consumer.paused_since is None
    assert await bus.dead_letters("widgets") == []
    await consumer.stop()
    await bus.close()


async def test_consumer_keeps_events_while_stopped(database: Database, memory_url: str) -> None:
    bus = create_bus(memory_url)
    await bus.connect()
    consumer = EventConsumer(database, bus, service="widgets", handlers={TYPE: [bump]})
    await consumer.start()
    await consumer.stop()  # a deploy: the queue stays bound
    await bus.publish(new_event(TYPE, source="/test", data={"widget_id": "w7"}))
    await bus.drain()  # type: ignore[attr-defined]
    assert await widget_count(database, "w7") is None
    await consumer.start()
    await bus.drain()  # type: ignore[attr-defined]
    assert await widget_count(database, "w7") == 1
    await consumer.stop()
    await bus.close()


@pytest.mark.rabbitmq
async def test_consumer_on_rabbitmq_handles_a_redelivered_event_once(
    database: Database,
) -> None:
    url = require_rabbitmq()
    suffix = uuid.uuid4().hex[:8]
    bus = create_bus(url, exchange=f"taskflow.test.{suffix}", max_retries=1)
    await bus.connect()
    queue = f"widgets-{suffix}"
    handled = asyncio.Event()

    async def bump_and_tell(session: AsyncSession, event: CloudEvent) -> None:
        await bump(session, event)
        if event.data["widget_id"] == "last":
            handled.set()

    consumer = EventConsumer(database, bus, service=queue, handlers={TYPE: [bump_and_tell]})
    try:
        await consumer.start()
        event = new_event(TYPE, source="/test", data={"widget_id": "w8"})
        await bus.publish(event)
        await bus.publish(event)  # the relay crashed before marking it: sent again
        await bus.publish(new_event(TYPE, source="/test", data={"widget_id": "last"}))
        await asyncio.wait_for(handled.wait(), timeout=5)  # the queue is handled in order
        assert await widget_count(database, "w8") == 1
        assert await bus.dead_letters(queue) == []
    finally:
        await consumer.stop()
        await bus.delete_queues(queue)  # type: ignore[attr-defined]
        await bus.delete_exchange()  # type: ignore[attr-defined]
        await bus.close()
