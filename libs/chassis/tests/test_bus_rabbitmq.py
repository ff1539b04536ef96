"""The RabbitMQ adapter, looked at from the broker's side.

The contract both adapters share (routing, retry, dead letters) is in test_bus.py;
this file checks what is particular to AMQP: message properties, durable queues,
the retry queue, DLQ headers, manual acks and order under prefetch. Each test
uses its own exchange and queues (uuid suffix) and deletes them afterwards.
It needs the machine's RabbitMQ: skipped with the reason without one, failed
when CI is set.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import aiormq
import pytest
from aio_pika.abc import AbstractConnection
from pamqp.common import FieldTable
from taskflow_chassis.bus import OutgoingEvent, Published, create_bus
from taskflow_chassis.bus import rabbitmq as rabbitmq_module
from taskflow_chassis.bus.rabbitmq import CONTENT_TYPE, RabbitMQBus
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.testing import require_rabbitmq

pytestmark = pytest.mark.rabbitmq

TYPE = "taskflow.test.widget.created.v1"


@dataclass
class Rabbit:
    url: str
    exchange: str
    queue: str
    raw: AbstractConnection  # a plain connection, to look at what the broker holds
    buses: list[RabbitMQBus] = field(default_factory=list)

    async def bus(self, **options: Any) -> RabbitMQBus:
        options = {"max_retries": 2, "retry_base_seconds": 0.05, **options}
        bus = create_bus(self.url, exchange=self.exchange, **options)
        assert isinstance(bus, RabbitMQBus)
        await bus.connect()
        self.buses.append(bus)
        return bus


@pytest.fixture
async def rabbit() -> AsyncIterator[Rabbit]:
    url = require_rabbitmq()
    suffix = uuid.uuid4().hex[:10]
    raw = await aio_pika.connect(url)
    env = Rabbit(url, f"taskflow.test.{suffix}", f"svc-{suffix}", raw)
    try:
        yield env
    finally:
        for bus in env.buses:
            await bus.close()
        channel = await raw.channel()
        for name in (env.queue, f"{env.queue}.retry", f"{env.queue}.dlq"):
            await channel.queue_delete(name)
        await channel.exchange_delete(env.exchange)
        await raw.close()


def event(name: str = "x", **data: object) -> CloudEvent:
    return new_event(TYPE, source="/test", data={"name": name, **data})


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def queue_holds(channel: Any, queue: str, count: int) -> bool:
    """The broker puts a closed channel's unsettled deliveries back a moment after it
    confirms the close: counted at once on a loaded machine, some were not back yet."""
    declared = await channel.declare_queue(queue, passive=True)
    return bool(declared.declaration_result.message_count == count)


async def test_published_message_is_persistent_confirmed_cloudevent(rabbit: Rabbit) -> None:
    bus = await rabbit.bus()
    channel = await rabbit.raw.channel()
    tap = await channel.declare_queue(exclusive=True)
    await tap.bind(rabbit.exchange, routing_key="#")
    sent = new_event(TYPE, source="/test", data={"n": 1}, correlation_id="corr-1")
    await bus.publish(sent)
    message = await tap.get(timeout=5)
    await message.ack()
    assert message.routing_key == TYPE
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.content_type == CONTENT_TYPE
    assert message.message_id == sent.id and message.correlation_id == "corr-1"
    assert CloudEvent.from_json(message.body) == sent
    # The exchange is a durable topic exchange: redeclaring it otherwise is refused.
    with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
        probe = await rabbit.raw.channel()
        await probe.declare_exchange(rabbit.exchange, aio_pika.ExchangeType.TOPIC, durable=False)


async def test_a_batch_publishes_messages_with_the_properties_of_a_single_publish(
    rabbit: Rabbit,
) -> None:
    """The relay's batches (the outbox's stored JSON) carry the correlation id and time as
    AMQP properties, as ``publish`` does: a tool that reads them sees no difference."""
    bus = await rabbit.bus()
    channel = await rabbit.raw.channel()
    tap = await channel.declare_queue(exclusive=True)
    await tap.bind(rabbit.exchange, routing_key="#")
    alone = new_event(TYPE, source="/test", data={"n": 1}, correlation_id="corr-alone")
    batched = new_event(TYPE, source="/test", data={"n": 2}, correlation_id="corr-batch")
    await bus.publish(alone)
    stored = OutgoingEvent.stored(batched.id, batched.type, batched.to_json().decode())
    assert await bus.publish_many([stored]) == Published(1)
    messages = [await tap.get(timeout=5), await tap.get(timeout=5)]
    for message, sent in zip(messages, (alone, batched), strict=True):
        await message.ack()
        assert message.message_id == sent.id and message.type == sent.type
        assert message.correlation_id == sent.correlationid
        assert message.content_type == CONTENT_TYPE
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        # AMQP keeps whole seconds.
        assert message.timestamp == sent.time.replace(microsecond=0)
        assert message.body == sent.to_json()


async def test_service_queues_are_durable_and_retry_feeds_back_into_the_queue(
    rabbit: Rabbit,
) -> None:
    bus = await rabbit.bus()

    async def ignore(e: CloudEvent) -> None:
        pass

    await bus.subscribe(rabbit.queue, [TYPE], ignore)
    retry_args: FieldTable = {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": rabbit.queue,
    }
    channel = await rabbit.raw.channel()
    # Declaring with the same settings is accepted; anything else is refused.
    await channel.declare_queue(rabbit.queue, durable=True)
    await channel.declare_queue(f"{rabbit.queue}.dlq", durable=True)
    await channel.declare_queue(f"{rabbit.queue}.retry", durable=True, arguments=retry_args)
    declared: list[tuple[str, FieldTable | None]] = [
        (rabbit.queue, None),
        (f"{rabbit.queue}.dlq", None),
        (f"{rabbit.queue}.retry", retry_args),
    ]
    for name, args in declared:
        with pytest.raises(aiormq.exceptions.ChannelPreconditionFailed):
            probe = await rabbit.raw.channel()
            await probe.declare_queue(name, durable=False, arguments=args)


async def test_unreadable_message_goes_straight_to_the_dlq(rabbit: Rabbit) -> None:
    bus = await rabbit.bus()
    calls: list[CloudEvent] = []

    async def handler(e: CloudEvent) -> None:
        calls.append(e)

    await bus.subscribe(rabbit.queue, [TYPE], handler)
    channel = await rabbit.raw.channel()
    exchange = await channel.get_exchange(rabbit.exchange)
    await exchange.publish(aio_pika.Message(b"not json"), routing_key=TYPE)

    async def parked() -> bool:
        return len(await bus.dead_letters(rabbit.queue)) == 1

    await eventually(parked)
    [letter] = await bus.dead_letters(rabbit.queue)
    assert letter.event is None and letter.body == b"not json"
    assert letter.error.startswith("unreadable event") and letter.attempts == 1
    assert calls == []


async def test_dead_lettered_message_carries_error_count_and_original_key(
    rabbit: Rabbit,
) -> None:
    bus = await rabbit.bus()

    async def broken(e: CloudEvent) -> None:
        raise ValueError("boom")

    await bus.subscribe(rabbit.queue, [TYPE], broken)
    bad = event()
    await bus.publish(bad)

    async def parked() -> bool:
        return len(await bus.dead_letters(rabbit.queue)) == 1

    await eventually(parked)
    channel = await rabbit.raw.channel()
    dlq = await channel.declare_queue(f"{rabbit.queue}.dlq", durable=True)
    message = await dlq.get(timeout=5)
    await message.ack()
    headers = message.headers or {}
    assert headers["x-error"] == "ValueError: boom"
    assert headers["x-retry-count"] == 2
    # It came back from the retry queue twice; the type it was published under stays.
    assert headers["x-original-routing-key"] == TYPE
    assert "x-death" not in headers
    assert message.message_id == bad.id
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert CloudEvent.from_json(message.body) == bad


async def test_back_off_waits_in_the_retry_queue_not_in_front_of_the_queue(
    rabbit: Rabbit,
) -> None:
    bus = await rabbit.bus(max_retries=1, retry_base_seconds=0.4)
    seen: list[tuple[str, float]] = []

    async def handler(e: CloudEvent) -> None:
        seen.append((e.data["name"], time.monotonic()))
        if e.data["name"] == "flaky" and len(seen) == 1:
            raise RuntimeError("not yet")

    await bus.subscribe(rabbit.queue, [TYPE], handler)
    await bus.publish(event("flaky"))
    await bus.publish(event("healthy"))

    async def retried() -> bool:
        return len(seen) == 3

    await eventually(retried)
    assert [name for name, _ in seen] == ["flaky", "healthy", "flaky"]
    assert seen[2][1] - seen[0][1] >= 0.35  # the per-message TTL held it back
    assert seen[1][1] - seen[0][1] < 0.35  # while the healthy one went through
    assert await bus.dead_letters(rabbit.queue) == []


async def test_message_is_acked_only_after_the_handler_returned(
    rabbit: Rabbit, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rabbitmq_module, "STOP_GRACE_SECONDS", 0.1, raising=False)
    first = await rabbit.bus()
    entered, release = asyncio.Event(), asyncio.Event()

    async def dies_midway(e: CloudEvent) -> None:
        entered.set()
        await release.wait()

    await first.subscribe(rabbit.queue, [TYPE], dies_midway)
    sent = event()
    await first.publish(sent)
    await asyncio.wait_for(entered.wait(), 5)
    await first.close()  # the process goes away before its handler returned
    got: list[str] = []

    async def handler(e: CloudEvent) -> None:
        got.append(e.id)

    second = await rabbit.bus()
    await second.subscribe(rabbit.queue, [TYPE], handler)

    async def redelivered() -> bool:
        return got == [sent.id]

    await eventually(redelivered)
    release.set()
    await asyncio.sleep(0.05)  # the orphaned handler ends; its ack fails harmlessly


async def test_a_batch_is_acked_in_one_frame_that_covers_only_its_own_deliveries(
    rabbit: Rabbit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two queues consumed by one process: a batch is acked with a single frame
    (``multiple``), and that frame leaves the other queue's delivery, still in its
    handler, unacked: the process going away puts it back."""
    monkeypatch.setattr(rabbitmq_module, "STOP_GRACE_SECONDS", 0.1, raising=False)
    acks: list[bool] = []
    ack = aio_pika.IncomingMessage.ack

    async def counted_ack(message: aio_pika.IncomingMessage, multiple: bool = False) -> None:
        acks.append(multiple)
        await ack(message, multiple=multiple)

    monkeypatch.setattr(aio_pika.IncomingMessage, "ack", counted_ack)
    other, other_type = f"{rabbit.queue}-other", "taskflow.test.gadget.created.v1"
    bus = await rabbit.bus(batch_size=10, prefetch=20, batch_linger=0.2)
    held, batches = asyncio.Event(), []

    async def holds(e: CloudEvent) -> None:
        await held.wait()

    async def one_by_one(e: CloudEvent) -> None:
        batches.append(1)  # the first of a stream goes at once
        if len(batches) == 1:  # the rest arrive meanwhile, however slow the machine
            waiting = bus._subscriptions[rabbit.queue].waiting
            await eventually(lambda: _true(len(waiting) >= 9))

    async def in_batches(events: Sequence[CloudEvent]) -> None:
        batches.append(len(events))

    try:
        await bus.subscribe(other, [other_type], holds)
        await bus.publish(new_event(other_type, source="/test", data={}))  # the lower tag
        await asyncio.sleep(0.2)
        await bus.subscribe(rabbit.queue, [TYPE], one_by_one, batch_handler=in_batches)
        await bus.publish_many([OutgoingEvent.of(event(n=n)) for n in range(10)])

        async def all_in() -> bool:
            return sum(batches) == 10

        await eventually(all_in)
        assert max(batches) > 1, batches
        assert acks == [size > 1 for size in batches], (acks, batches)
        await bus.close()  # the other queue's handler never returned
        channel = await rabbit.raw.channel()
        left = {
            name: (await channel.declare_queue(name, passive=True)).declaration_result
            for name in (rabbit.queue, other)
        }
        assert {name: result.message_count for name, result in left.items()} == {
            rabbit.queue: 0,
            other: 1,
        }
    finally:
        held.set()
        channel = await rabbit.raw.channel()
        for name in (other, f"{other}.retry", f"{other}.dlq"):
            await channel.queue_delete(name)


@pytest.mark.parametrize("refusals", [1, 1000])
async def test_deliveries_a_refused_retry_copy_left_unsettled_go_back_after_a_while(
    rabbit: Rabbit, monkeypatch: pytest.MonkeyPatch, refusals: int
) -> None:
    """A batch fails and goes one by one; its first event fails too, and the copy for its
    retry cannot be published (the broker refused it, once or every time): it and the
    events after it were taken but not settled. They stay unacked for a while, so the
    next batches are acked one frame each and none is settled unhandled; then they go
    back to the queue and are tried again: not at once in a loop, and not held until
    the channel closes (two such batches used up the prefetch and stopped the consumer)."""
    monkeypatch.setattr(rabbitmq_module, "STRANDED_REQUEUE_SECONDS", 0.5)
    bus = await rabbit.bus(batch_size=10, prefetch=20, batch_linger=0.2)
    handled: list[str] = []
    poison_attempts: list[float] = []
    loop = asyncio.get_running_loop()

    async def one(e: CloudEvent) -> None:
        if e.data["name"] == "poison":
            poison_attempts.append(loop.time())
            if refusals > 1 or len(poison_attempts) <= 2:  # the second time from its retry
                raise ValueError("a poison event")
        handled.append(str(e.data["name"]))

    async def many(events: Sequence[CloudEvent]) -> None:
        if any(e.data["name"] == "poison" for e in events):
            raise ValueError("the batch fails: one by one")
        handled.extend(str(e.data["name"]) for e in events)

    retry_later = RabbitMQBus._retry_later
    refused: list[Exception] = [ConnectionError("the broker refused the copy")] * refusals

    async def refusing(self: RabbitMQBus, *args: Any) -> None:
        if refused:
            raise refused.pop()
        await retry_later(self, *args)

    monkeypatch.setattr(RabbitMQBus, "_retry_later", refusing)
    await bus.subscribe(rabbit.queue, [TYPE], one, batch_handler=many)
    await bus.unsubscribe(rabbit.queue)  # declared: the first four wait for the consumer
    channel = await rabbit.raw.channel()
    for name in ("poison", "g1", "g2", "g3"):
        message = aio_pika.Message(event(name).to_json())
        await channel.default_exchange.publish(message, routing_key=rabbit.queue)
    await bus.subscribe(rabbit.queue, [TYPE], one, batch_handler=many)
    await eventually(lambda: _true(len(poison_attempts) >= 1))
    await bus.publish_many([OutgoingEvent.of(event(f"later {n}")) for n in range(10)])
    later = sorted(f"later {n}" for n in range(10))
    await eventually(lambda: _true(set(handled) >= set(later)))
    if refusals == 1:  # put back, tried again: its retry copy published this time
        everything = sorted([*later, "g1", "g2", "g3", "poison"])
        await eventually(lambda: _true(sorted(handled) == everything), within=15)
        assert len(poison_attempts) == 3
        assert poison_attempts[1] - poison_attempts[0] >= 0.5  # not at once
        await bus.close()
        queue = await channel.declare_queue(rabbit.queue, passive=True)
        assert queue.declaration_result.message_count == 0
        return
    await asyncio.sleep(2.0)
    gaps = [b - a for a, b in itertools.pairwise(poison_attempts)]
    assert 2 <= len(poison_attempts) <= 6, poison_attempts  # tried again, never in a loop
    assert min(gaps) >= 0.5, gaps
    # g1 to g3 are handled once each when they come back in a batch of their own, or wait
    # in the queue with the event that keeps failing.
    cut_off = [name for name in handled if name not in later]
    assert len(cut_off) == len(set(cut_off)) and set(cut_off) <= {"g1", "g2", "g3"}, handled
    assert len(bus._subscriptions[rabbit.queue].stranded) <= 4
    await bus.close()
    none_lost = 4 - len(cut_off)
    await eventually(lambda: queue_holds(channel, rabbit.queue, none_lost), within=5.0)


async def test_a_batch_cut_off_by_a_reconnect_then_failing_once_loses_none_of_its_events(
    rabbit: Rabbit,
) -> None:
    """A batch is in its handler and more wait behind it when the connection is cut: the
    waiting ones belong to the closed channel and come again on the new one. The first
    batch after the cut fails once and goes one by one; every event is handled in the
    end (a delivery of the old channel, handled and then not ackable, once stopped the
    rest, and the next batch's ack settled them unhandled)."""
    subscriber = await rabbit.bus(batch_size=10, prefetch=20, batch_linger=0.3)
    publisher = await rabbit.bus()
    handled: list[str] = []
    phase = ["held"]
    release = asyncio.Event()

    async def one(e: CloudEvent) -> None:
        await many([e])

    async def many(events: Sequence[CloudEvent]) -> None:
        if phase[0] == "held":  # the first to arrive, alone or in a batch
            phase[0] = "cut"
            await release.wait()  # a long transaction, cut off by the reconnect
        if phase[0] == "fails once" and len(events) > 1:
            phase[0] = "fine"
            raise RuntimeError("a transient failure: one by one")
        handled.extend(str(e.data["name"]) for e in events)

    await subscriber.subscribe(rabbit.queue, [TYPE], one, batch_handler=many)
    await publisher.publish_many([OutgoingEvent.of(event(f"e{n}")) for n in range(3)])
    await eventually(lambda: _is_phase(phase, "cut"))
    await publisher.publish_many([OutgoingEvent.of(event(f"e{n}")) for n in range(3, 9)])
    waiting = subscriber._subscriptions[rabbit.queue].waiting
    await eventually(lambda: _true(len(waiting) >= 6))
    phase[0] = "fails once"
    reconnected = asyncio.Event()
    connection = subscriber._connection
    assert connection is not None and connection.transport is not None
    connection.reconnect_callbacks.add(lambda _connection: reconnected.set())
    await connection.transport.connection.close(ConnectionResetError("cut by the test"))
    await asyncio.wait_for(reconnected.wait(), 30)
    await publisher.publish_many([OutgoingEvent.of(event(f"later {n}")) for n in range(10)])
    expected = {f"e{n}" for n in range(9)} | {f"later {n}" for n in range(10)}
    await eventually(lambda: _true(set(handled) >= expected), within=30)
    release.set()


async def _is_phase(phase: list[str], wanted: str) -> bool:
    return phase[0] == wanted


async def _true(value: bool) -> bool:
    return value


async def test_one_queue_is_handled_in_order_despite_prefetch(rabbit: Rabbit) -> None:
    bus = await rabbit.bus()  # prefetch 16: several deliveries in flight at once
    got: list[int] = []

    async def uneven(e: CloudEvent) -> None:
        await asyncio.sleep(random.uniform(0, 0.01))
        got.append(int(e.data["n"]))

    await bus.subscribe(rabbit.queue, [TYPE], uneven)
    for n in range(30):
        await bus.publish(event(n=n))

    async def all_in() -> bool:
        return len(got) == 30

    await eventually(all_in)
    assert got == list(range(30))


async def test_events_that_arrive_together_go_to_one_process_of_the_service(
    rabbit: Rabbit,
) -> None:
    """Two processes of one service on its queue: the events go to the one of higher
    priority while it has room (its batches stay whole, where round-robin would split
    them), beyond its prefetch to the other, and all to the other once it has gone."""
    got: dict[str, list[int]] = {"first": [], "second": []}
    held = asyncio.Event()

    def handler_of(name: str) -> Callable[[CloudEvent], Awaitable[None]]:
        async def handler(e: CloudEvent) -> None:
            if e.data.get("hold"):
                await held.wait()
            got[name].append(int(e.data["n"]))

        return handler

    room = {"prefetch": 4, "batch_size": 4}
    first, second = await rabbit.bus(**room), await rabbit.bus(**room)
    first.consumer_priority, second.consumer_priority = 10, 5
    assert RabbitMQBus(rabbit.url, exchange="x").consumer_priority in range(1, 1_000_001)
    for bus, name in ((first, "first"), (second, "second")):
        await bus.subscribe(rabbit.queue, [TYPE], handler_of(name))
    await first.publish_many([OutgoingEvent.of(event(n=n)) for n in range(4)])

    async def all_in() -> bool:
        return len(got["first"]) + len(got["second"]) == 4

    await eventually(all_in)
    assert got == {"first": list(range(4)), "second": []}

    # The first one stalled with its prefetch full (four held): what comes beyond goes to
    # the second, so a stall holds back no more than the prefetch.
    got["first"].clear()
    await first.publish_many([OutgoingEvent.of(event(n=n, hold=True)) for n in range(4)])
    await first.publish_many([OutgoingEvent.of(event(n=n)) for n in range(4, 8)])

    async def overflow_in() -> bool:
        return len(got["second"]) == 4

    await eventually(overflow_in)
    assert got["second"] == [4, 5, 6, 7]
    held.set()

    async def first_done() -> bool:
        return got["first"] == [0, 1, 2, 3]

    await eventually(first_done)
    await first.close()
    got["second"].clear()
    await second.publish_many([OutgoingEvent.of(event(n=n)) for n in range(5)])

    async def second_took_over() -> bool:
        return got["second"] == list(range(5))

    await eventually(second_took_over)


async def test_reading_the_dlq_leaves_it_intact(rabbit: Rabbit) -> None:
    bus = await rabbit.bus(max_retries=0)

    async def broken(e: CloudEvent) -> None:
        raise RuntimeError(e.data["name"])

    await bus.subscribe(rabbit.queue, [TYPE], broken)
    bad = [event(f"bad{n}") for n in range(3)]
    for e in bad:
        await bus.publish(e)

    async def parked() -> bool:
        return len(await bus.dead_letters(rabbit.queue)) == 3

    await eventually(parked)
    first = await bus.dead_letters(rabbit.queue)
    second = await bus.dead_letters(rabbit.queue)
    assert sorted(str(x.event.id) for x in first if x.event) == sorted(e.id for e in bad)
    assert sorted(x.error for x in second) == [f"RuntimeError: bad{n}" for n in range(3)]
    assert all(x.attempts == 1 for x in second)


async def test_connection_state(rabbit: Rabbit) -> None:
    bus = await rabbit.bus()
    assert await bus.ping()
    await bus.close()
    assert not await bus.ping()
    with pytest.raises(ConnectionError):
        await bus.publish(event())
    unconnected = create_bus(rabbit.url, exchange=rabbit.exchange)
    assert not await unconnected.ping()


async def test_a_negative_retry_count_header_counts_as_zero(rabbit: Rabbit) -> None:
    bus = await rabbit.bus(max_retries=2)
    calls: list[str] = []

    async def broken(e: CloudEvent) -> None:
        calls.append(e.id)
        raise KeyError("always")

    await bus.subscribe(rabbit.queue, [TYPE], broken)
    channel = await rabbit.raw.channel()
    exchange = await channel.get_exchange(rabbit.exchange)
    sent = event()
    await exchange.publish(
        aio_pika.Message(sent.to_json(), headers={"x-retry-count": -1000}), routing_key=TYPE
    )

    async def parked() -> bool:
        return await bus.dead_letter_count(rabbit.queue) == 1

    await eventually(parked)
    assert calls == [sent.id] * 3  # the first try and max_retries, not 1,003


async def test_replay_goes_to_the_service_queue_only(rabbit: Rabbit) -> None:
    bus = await rabbit.bus()
    other_queue = f"{rabbit.queue}-other"
    seen: dict[str, list[str]] = {"mine": [], "other": []}
    fail = True

    async def mine(e: CloudEvent) -> None:
        if fail:
            raise ValueError("not yet")
        seen["mine"].append(e.id)

    async def other(e: CloudEvent) -> None:
        seen["other"].append(e.id)

    await bus.subscribe(rabbit.queue, [TYPE], mine)
    await bus.subscribe(other_queue, [TYPE], other)
    try:
        sent = event()
        await bus.publish(sent)

        async def parked() -> bool:
            return await bus.dead_letter_count(rabbit.queue) == 1

        await eventually(parked)
        fail = False
        assert await bus.replay_dead_letters(rabbit.queue) == 1

        async def replayed() -> bool:
            return seen["mine"] == [sent.id]

        await eventually(replayed)
        assert seen["other"] == [sent.id]  # once, from the publish; the replay did not reach it
    finally:
        await bus.unsubscribe(other_queue)
        channel = await rabbit.raw.channel()
        for suffix in ("", ".retry", ".dlq"):
            await channel.queue_delete(other_queue + suffix)


async def test_a_broadcast_subscription_comes_back_after_a_reconnect(rabbit: Rabbit) -> None:
    """Its queue dies with the connection; the robust connection declares, binds and
    consumes it again, then says so, for the subscriber to catch up on what it missed."""
    publisher, subscriber = await rabbit.bus(), await rabbit.bus()
    got: list[str] = []
    reconnected = asyncio.Event()

    async def record(e: CloudEvent) -> None:
        got.append(e.id)

    await subscriber.subscribe_broadcast([TYPE], record, on_reconnected=reconnected.set)
    before = event("before")
    await publisher.publish(before)
    await eventually(lambda: _is(got, [before.id]))
    connection = subscriber._connection
    assert connection is not None and connection.transport is not None
    await connection.transport.connection.close(ConnectionResetError("cut by the test"))
    await asyncio.wait_for(reconnected.wait(), 30)
    after = event("after")
    await publisher.publish(after)
    await eventually(lambda: _is(got, [before.id, after.id]))


async def test_a_service_queue_s_own_channel_comes_back_after_a_reconnect(rabbit: Rabbit) -> None:
    """The robust connection restores the queue's channel, its QoS and its consumer: the
    batches after a cut are handled and acked there (nothing left for a redelivery)."""
    publisher, subscriber = await rabbit.bus(), await rabbit.bus(batch_linger=0.2)
    got: list[str] = []
    reconnected = asyncio.Event()

    async def one(e: CloudEvent) -> None:
        got.append(e.id)

    async def many(events: Sequence[CloudEvent]) -> None:
        got.extend(e.id for e in events)

    await subscriber.subscribe(rabbit.queue, [TYPE], one, batch_handler=many)
    before = [event(f"before {n}") for n in range(5)]
    await publisher.publish_many([OutgoingEvent.of(e) for e in before])
    await eventually(lambda: _is(got, [e.id for e in before]))
    connection = subscriber._connection
    assert connection is not None and connection.transport is not None
    connection.reconnect_callbacks.add(lambda _connection: reconnected.set())
    await connection.transport.connection.close(ConnectionResetError("cut by the test"))
    await asyncio.wait_for(reconnected.wait(), 30)
    after = [event(f"after {n}") for n in range(5)]
    await publisher.publish_many([OutgoingEvent.of(e) for e in after])
    # At least once: a batch's ack still on its way when the connection went is redelivered.
    await eventually(lambda: _true(set(got) >= {e.id for e in before + after}))
    await subscriber.close()
    channel = await rabbit.raw.channel()
    queue = await channel.declare_queue(rabbit.queue, passive=True)
    assert queue.declaration_result.message_count == 0


async def _is(got: list[str], expected: list[str]) -> bool:
    return got == expected
