"""The inbox: a redelivered event is a no-op; a failed handler leaves nothing behind."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, insert, select, update
from taskflow_chassis.bus import EventBus
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.bus.rabbitmq import RabbitMQBus
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.handlers import EventContext, EventHandler, HandlerMap
from taskflow_chassis.inbox import EventConsumer, handle_batch, handle_once
from taskflow_chassis.logs import current_correlation_id
from taskflow_chassis.messaging import inbox_table, outbox_table
from taskflow_chassis.testing import postgres_outage, require_rabbitmq, statements_sent
from taskflow_chassis.unit_of_work import Publisher

from .conftest import WidgetBumped, WidgetNoticed, widgets

TYPE = WidgetBumped.event_type
PUBLISHER = Publisher("widgets")
Context = EventContext[None]


def bumped(widget_id: str, *, correlation_id: str | None = None) -> CloudEvent:
    data = WidgetBumped(widget_id=widget_id)
    return new_event(TYPE, source="/test", data=data, correlation_id=correlation_id)


def on_bumped(*handlers: EventHandler) -> HandlerMap:
    return HandlerMap({WidgetBumped: handlers})


def consumer_of(
    database: Database, bus: EventBus, *handlers: EventHandler, queue: str = "widgets"
) -> EventConsumer:
    return EventConsumer(
        database, bus, queue=queue, handlers=on_bumped(*handlers), publisher=PUBLISHER
    )


async def bump(payload: WidgetBumped, context: Context) -> None:
    session, widget_id = context.session, payload.widget_id
    count = (
        await session.execute(select(widgets.c.count).where(widgets.c.id == widget_id))
    ).scalar_one_or_none()
    if count is None:
        await session.execute(insert(widgets).values(id=widget_id, count=1))
    else:
        await session.execute(
            update(widgets).where(widgets.c.id == widget_id).values(count=count + 1)
        )


async def widget_count(database: Database, widget_id: str) -> int | None:
    async with database.session() as session:
        count = (
            await session.execute(select(widgets.c.count).where(widgets.c.id == widget_id))
        ).scalar_one_or_none()
        return None if count is None else int(count)


async def test_redelivery_is_a_no_op(database: Database) -> None:
    handlers = on_bumped(bump)
    event = bumped("w1")
    assert await handle_once(database, event, handlers, PUBLISHER) is True
    assert await handle_once(database, event, handlers, PUBLISHER) is False
    copy = CloudEvent.from_json(event.to_json())
    assert await handle_once(database, copy, handlers, PUBLISHER) is False
    assert await widget_count(database, "w1") == 1
    assert await handle_once(database, bumped("w1"), handlers, PUBLISHER) is True
    assert await widget_count(database, "w1") == 2


async def test_concurrent_duplicates_apply_once(database: Database) -> None:
    calls: list[str] = []

    async def slow_bump(payload: WidgetBumped, context: Context) -> None:
        calls.append(context.event.id)
        await asyncio.sleep(0.05)  # the copies overlap
        await bump(payload, context)

    event = bumped("w2")
    handlers = on_bumped(slow_bump)
    results = await asyncio.gather(
        *(handle_once(database, event, handlers, PUBLISHER) for _ in range(5)),
        return_exceptions=True,
    )
    # One copy wins; the others are quiet duplicates, not errors for the bus to retry.
    assert sorted(results, key=str) == [False, False, False, False, True]
    assert calls == [event.id]
    assert await widget_count(database, "w2") == 1


async def test_failing_handler_rolls_back_and_records_nothing(database: Database) -> None:
    async def explode(payload: WidgetBumped, context: Context) -> None:
        raise RuntimeError("nope")

    event = bumped("w3")
    with pytest.raises(RuntimeError):
        await handle_once(database, event, on_bumped(bump, explode), PUBLISHER)
    assert await widget_count(database, "w3") is None
    async with database.session() as session:
        assert (
            await session.execute(select(func.count()).select_from(inbox_table))
        ).scalar_one() == 0
    assert await handle_once(database, event, on_bumped(bump), PUBLISHER) is True


async def test_correlation_id_is_restored_after_a_failing_handler(database: Database) -> None:
    seen: list[str | None] = []

    async def explode(payload: WidgetBumped, context: Context) -> None:
        seen.append(current_correlation_id())
        raise RuntimeError("nope")

    incoming = bumped("w5", correlation_id="trace-7")
    with pytest.raises(RuntimeError):
        await handle_once(database, incoming, on_bumped(explode), PUBLISHER)
    assert seen == ["trace-7"] and current_correlation_id() is None


async def test_handler_events_carry_the_incoming_correlation_id(database: Database) -> None:
    async def react(payload: WidgetBumped, context: Context) -> None:
        context.uow.publish(WidgetNoticed(widget_id=payload.widget_id))

    incoming = bumped("w5", correlation_id="trace-5")
    await handle_once(database, incoming, on_bumped(react), PUBLISHER)
    assert current_correlation_id() is None
    async with database.session() as session:
        payload = (await session.execute(select(outbox_table.c.payload))).scalar_one()
    noticed = CloudEvent.from_json(payload)
    assert noticed.correlationid == "trace-5"
    assert noticed.type == WidgetNoticed.event_type and noticed.source == "/taskflow/widgets"


async def test_consumer_routes_by_type_through_the_bus(database: Database, memory_url: str) -> None:
    bus = MemoryBus(memory_url)
    await bus.connect()
    consumer = consumer_of(database, bus, bump)
    await consumer.start()
    event = bumped("w4")
    await bus.publish(event)
    await bus.publish(event)  # at-least-once delivery: a duplicate arrives
    await bus.publish(
        new_event("taskflow.widgets.widget.ignored.v1", source="/test", data={"widget_id": "w4"})
    )
    await bus.drain()
    assert await widget_count(database, "w4") == 1
    await consumer.stop()
    await bus.close()


async def test_a_consumer_without_inbox_runs_each_delivery_and_sends_no_statement(
    database: Database, memory_url: str
) -> None:
    """For handlers idempotent by nature that keep no rows (web's counters): a duplicate
    runs them again, and an event costs the database nothing."""
    bus = MemoryBus(memory_url)
    await bus.connect()
    heard: list[str] = []

    async def count(payload: WidgetBumped, context: Context) -> None:
        heard.append(payload.widget_id)

    consumer = EventConsumer(
        database, bus, queue="counters", handlers=on_bumped(count), publisher=PUBLISHER, inbox=False
    )
    await consumer.start()
    try:
        with statements_sent(database) as statements:
            first = bumped("w9")
            await bus.publish(first)
            await bus.publish(first)  # at-least-once delivery: a duplicate arrives
            await bus.publish(bumped("w10"))
            await bus.drain()
    finally:
        await consumer.stop()
        await bus.close()
    assert heard == ["w9", "w9", "w10"]
    assert statements == []


async def test_a_consumer_without_inbox_runs_a_batch_in_one_unit_of_work(
    database: Database, memory_url: str
) -> None:
    """What the handlers of a batch gather is written once, when the batch commits (web
    moves a write's counters in one round trip); each handler runs under its event's
    correlation id."""
    bus = MemoryBus(memory_url)
    await bus.connect()
    written: list[list[tuple[str, str | None]]] = []

    class Tally:
        def __init__(self, _uow: Any) -> None:
            self.heard: list[tuple[str, str | None]] = []

        async def write(self) -> None:
            written.append(self.heard)
            self.heard = []

    async def tally(payload: WidgetBumped, context: Context) -> None:
        context.uow.gathered(Tally).heard.append((payload.widget_id, current_correlation_id()))

    consumer = EventConsumer(
        database, bus, queue="tally", handlers=on_bumped(tally), publisher=PUBLISHER, inbox=False
    )
    await consumer.start()
    try:
        for n in range(3):
            await bus.publish(bumped(f"w{n}", correlation_id=f"c{n}"))
        await bus.drain()
    finally:
        await consumer.stop()
        await bus.close()
    assert written == [[("w0", "c0"), ("w1", "c1"), ("w2", "c2")]]


async def test_consumer_retries_then_dead_letters_a_failing_event_without_side_effects(
    database: Database, memory_url: str
) -> None:
    bus = MemoryBus(memory_url, max_retries=2, retry_base_seconds=0.01)
    await bus.connect()

    async def half_done(payload: WidgetBumped, context: Context) -> None:
        await bump(payload, context)
        raise LookupError("team not in the replica")

    consumer = consumer_of(database, bus, half_done)
    await consumer.start()
    event = bumped("w6")
    await bus.publish(event)
    await bus.drain()
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
    bus = MemoryBus(memory_url)
    await bus.connect()
    consumer = consumer_of(database, bus, bump)
    # A wider binding than the handler map (or a replay) brings a type nobody handles.
    await bus.subscribe("widgets", ["taskflow.widgets.#"], consumer._on_event)
    stray = new_event("taskflow.widgets.widget.melted.v1", source="/test", data={})
    await bus.publish(stray)
    await bus.drain()
    [letter] = await bus.dead_letters("widgets")
    assert letter.id == stray.id and letter.attempts == 1
    assert "no handler for taskflow.widgets.widget.melted.v1" in letter.error
    await bus.close()


async def test_an_unreadable_payload_is_parked_at_once_without_side_effects(
    database: Database, memory_url: str
) -> None:
    bus = MemoryBus(memory_url, max_retries=5, retry_base_seconds=0.01)
    await bus.connect()
    consumer = consumer_of(database, bus, bump)
    await consumer.start()
    unreadable = new_event(TYPE, source="/test", data={"widget": "no id"})
    await bus.publish(unreadable)
    await bus.drain()
    [letter] = await bus.dead_letters("widgets")
    assert letter.id == unreadable.id and letter.attempts == 1  # not retried
    assert "unreadable payload" in letter.error
    async with database.session() as session:
        assert (await session.execute(select(inbox_table))).all() == []
    await consumer.stop()
    await bus.close()


async def test_consumer_pauses_while_its_database_is_down_and_resumes_in_order(
    postgres_database: Database, memory_url: str
) -> None:
    database = postgres_database
    bus = MemoryBus(memory_url, max_retries=1, retry_base_seconds=0.01)
    await bus.connect()
    handled: list[str] = []

    async def record(payload: WidgetBumped, context: Context) -> None:
        await bump(payload, context)
        handled.append(payload.widget_id)

    consumer = consumer_of(database, bus, record)
    await consumer.start()
    async with postgres_outage(str(database.engine.url)):
        for n in range(3):
            await bus.publish(bumped(f"p{n}"))
        await asyncio.sleep(3)  # far longer than max_retries' back-off would allow
        assert consumer.paused_since is not None
        assert handled == [] and await bus.dead_letters("widgets") == []
        assert bus.queues["widgets"].retrying == 0  # held, not churned through the retry path
    await bus.drain(timeout=30)
    assert handled == ["p0", "p1", "p2"]
    assert consumer.paused_since is None
    assert await bus.dead_letters("widgets") == []
    await consumer.stop()
    await bus.close()


async def test_consumer_keeps_events_while_stopped(database: Database, memory_url: str) -> None:
    bus = MemoryBus(memory_url)
    await bus.connect()
    consumer = consumer_of(database, bus, bump)
    await consumer.start()
    await consumer.stop()  # a deploy: the queue stays bound
    await bus.publish(bumped("w7"))
    await bus.drain()
    assert await widget_count(database, "w7") is None
    await consumer.start()
    await bus.drain()
    assert await widget_count(database, "w7") == 1
    await consumer.stop()
    await bus.close()


@pytest.mark.rabbitmq
async def test_consumer_on_rabbitmq_handles_a_redelivered_event_once(
    database: Database,
) -> None:
    url = require_rabbitmq()
    suffix = uuid.uuid4().hex[:8]
    bus = RabbitMQBus(url, exchange=f"taskflow.test.{suffix}", max_retries=1)
    await bus.connect()
    queue = f"widgets-{suffix}"
    handled = asyncio.Event()

    async def bump_and_tell(payload: WidgetBumped, context: Context) -> None:
        await bump(payload, context)
        if payload.widget_id == "last":
            handled.set()

    consumer = consumer_of(database, bus, bump_and_tell, queue=queue)
    try:
        await consumer.start()
        event = bumped("w8")
        await bus.publish(event)
        await bus.publish(event)  # the relay crashed before marking it: sent again
        await bus.publish(bumped("last"))
        await asyncio.wait_for(handled.wait(), timeout=5)  # the queue is handled in order
        assert await widget_count(database, "w8") == 1
        assert await bus.dead_letters(queue) == []
    finally:
        await consumer.stop()
        await bus.delete_queues(queue)
        await bus.delete_exchange()
        await bus.close()


async def inbox_count(database: Database) -> int:
    async with database.session() as session:
        query = select(func.count()).select_from(inbox_table)
        return int((await session.execute(query)).scalar_one())


async def test_a_batch_applies_each_new_event_once_in_order_and_skips_duplicates(
    database: Database,
) -> None:
    handlers = on_bumped(bump)
    first, second, third = bumped("b1"), bumped("b1"), bumped("b2")
    assert await handle_once(database, first, handlers, PUBLISHER) is True
    copy = CloudEvent.from_json(second.to_json())
    # Already handled (first), twice in the batch (second): each new event runs once.
    batch = [first, second, copy, third]
    assert await handle_batch(database, batch, handlers, PUBLISHER) == 2
    # Each event read what the one before wrote: the same widget bumped twice in all.
    assert await widget_count(database, "b1") == 2
    assert await widget_count(database, "b2") == 1
    assert await inbox_count(database) == 3
    assert await handle_batch(database, batch, handlers, PUBLISHER) == 0
    assert await handle_batch(database, [], handlers, PUBLISHER) == 0


async def test_a_batch_claims_its_events_in_one_statement(database: Database) -> None:
    """PostgreSQL and SQLite say which inbox rows an INSERT wrote: no look-up first, and
    the one already handled is still skipped."""
    handled = bumped("c1")
    assert await handle_once(database, handled, on_bumped(), PUBLISHER) is True
    with statements_sent(database) as sent:
        batch = [CloudEvent.from_json(handled.to_json()), bumped("c2"), bumped("c3")]
        assert await handle_batch(database, batch, on_bumped(bump), PUBLISHER) == 2
    assert len([s for s in sent if "inbox_messages" in s]) == 1, sent
    assert await inbox_count(database) == 3
    assert [await widget_count(database, w) for w in ("c1", "c2", "c3")] == [None, 1, 1]


async def test_two_batches_holding_one_event_at_once_handle_it_once(database: Database) -> None:
    """The second batch's claim waits on the event the first holds, then leaves it to the
    first and handles the rest: nothing fails, each event runs once."""
    shared, first_only, second_only = bumped("s1"), bumped("s2"), bumped("s3")
    first_holds = asyncio.Event()

    async def slow_on_s2(payload: WidgetBumped, context: Context) -> None:
        if payload.widget_id == "s2":
            first_holds.set()
            await asyncio.sleep(0.5)  # the first batch's transaction stays open meanwhile

    async def second() -> int:
        await first_holds.wait()
        copy = CloudEvent.from_json(shared.to_json())
        return await handle_batch(database, [copy, second_only], on_bumped(bump), PUBLISHER)

    handled = await asyncio.gather(
        handle_batch(database, [shared, first_only], on_bumped(bump, slow_on_s2), PUBLISHER),
        second(),
    )
    assert list(handled) == [2, 1]
    assert [await widget_count(database, w) for w in ("s1", "s2", "s3")] == [1, 1, 1]


async def test_a_failing_event_rolls_the_whole_batch_back(database: Database) -> None:
    async def explode_on_b4(payload: WidgetBumped, context: Context) -> None:
        if payload.widget_id == "b4":
            raise RuntimeError("nope")

    with pytest.raises(RuntimeError):
        await handle_batch(
            database, [bumped("b3"), bumped("b4")], on_bumped(bump, explode_on_b4), PUBLISHER
        )
    assert await widget_count(database, "b3") is None
    assert await inbox_count(database) == 0


async def test_each_event_of_a_batch_stages_events_with_its_own_correlation_id(
    database: Database,
) -> None:
    async def react(payload: WidgetBumped, context: Context) -> None:
        context.uow.publish(WidgetNoticed(widget_id=payload.widget_id))

    batch = [bumped("b5", correlation_id="trace-a"), bumped("b6", correlation_id="trace-b")]
    assert await handle_batch(database, batch, on_bumped(react), PUBLISHER) == 2
    assert current_correlation_id() is None
    async with database.session() as session:
        query = select(outbox_table.c.payload).order_by(outbox_table.c.created_at)
        rows = (await session.execute(query)).scalars()
        noticed = [CloudEvent.from_json(row) for row in rows]
    assert [(e.data["widget_id"], e.correlationid) for e in noticed] == [
        ("b5", "trace-a"),
        ("b6", "trace-b"),
    ]


async def test_a_poison_event_in_a_batch_is_parked_alone_and_the_others_applied(
    database: Database, memory_url: str
) -> None:
    bus = MemoryBus(memory_url, max_retries=5, retry_base_seconds=0.01)
    await bus.connect()
    batches: list[int] = []
    consumer = consumer_of(database, bus, bump)
    original = consumer._on_batch

    async def on_batch(events: Sequence[CloudEvent]) -> None:
        batches.append(len(events))
        await original(events)

    consumer._on_batch = on_batch  # type: ignore[method-assign]
    await consumer.start()
    await consumer.stop()  # the events wait together in the queue
    poison = new_event(TYPE, source="/test", data={"widget": "no id"})
    for event in [bumped("b7"), bumped("b8"), poison, bumped("b9")]:
        await bus.publish(event)
    await consumer.start()
    await bus.drain()
    assert batches == [4]  # tried together, then one by one
    [letter] = await bus.dead_letters("widgets")
    assert letter.id == poison.id and letter.attempts == 1
    assert "unreadable payload" in letter.error
    for widget in ("b7", "b8", "b9"):
        assert await widget_count(database, widget) == 1
    assert await inbox_count(database) == 3
    await consumer.stop()
    await bus.close()
