"""Both bus adapters pass the same contract: routing, retries with back-off, dead letters.

The RabbitMQ run needs the machine's RabbitMQ: it skips with the reason on a
developer machine without one, and fails when CI is set.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import pytest
from taskflow_chassis.bus import (
    EventBus,
    MessageHandler,
    OutgoingEvent,
    Published,
    create_bus,
    topic_matches,
)
from taskflow_chassis.bus.rabbitmq import RabbitMQBus
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.failures import PermanentError
from taskflow_chassis.testing import require_rabbitmq


@dataclass
class Buses:
    publisher: EventBus
    consumer: EventBus
    queue: str


@pytest.fixture(params=["memory", "rabbitmq"])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[Buses]:
    suffix = uuid.uuid4().hex[:8]
    # An exchange of the test's own (the memory bus ignores it).
    exchange = f"taskflow.test.{suffix}"
    url = f"memory://bus-{suffix}" if request.param == "memory" else require_rabbitmq()
    # Batches of at most 5, and a linger long enough that holding a lone event back would show.
    publisher, consumer = (
        create_bus(
            url,
            max_retries=2,
            retry_base_seconds=0.05,
            batch_size=5,
            batch_linger=10.0,
            exchange=exchange,
        )
        for _ in range(2)
    )
    await publisher.connect()
    await consumer.connect()
    queue = f"svc-{suffix}"
    yield Buses(publisher, consumer, queue)
    if isinstance(consumer, RabbitMQBus):
        await consumer.delete_queues(queue)
        await consumer.delete_exchange()
    await consumer.close()
    await publisher.close()


def event(kind: str = "created", **data: object) -> CloudEvent:
    return new_event(f"taskflow.test.widget.{kind}.v1", source="/test", data=data)


async def wait_for(predicate: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def test_topic_patterns() -> None:
    assert topic_matches("taskflow.auth.#", "taskflow.auth.user.registered.v1")
    assert topic_matches("taskflow.*.user.registered.v1", "taskflow.auth.user.registered.v1")
    assert topic_matches("#", "a.b")
    assert not topic_matches("taskflow.auth.*", "taskflow.auth.user.registered.v1")
    assert not topic_matches("taskflow.teams.#", "taskflow.auth.user.registered.v1")


async def test_routes_by_type_and_keeps_order(buses: Buses) -> None:
    got: list[CloudEvent] = []

    async def handler(e: CloudEvent) -> None:
        got.append(e)

    await buses.consumer.subscribe(buses.queue, ["taskflow.test.widget.created.v1"], handler)
    sent = [event(n=n) for n in range(5)]
    for e in sent:
        await buses.publisher.publish(e)
    await buses.publisher.publish(event("deleted"))

    async def all_arrived() -> bool:
        return len(got) >= 5

    await wait_for(all_arrived)
    await asyncio.sleep(0.2)
    assert [e.id for e in got] == [e.id for e in sent]
    assert got[0].data == {"n": 0} and got[0].type == "taskflow.test.widget.created.v1"
    assert await buses.consumer.ping()


async def test_transient_failure_is_retried_not_dead_lettered(buses: Buses) -> None:
    attempts: list[float] = []

    async def flaky(e: CloudEvent) -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise RuntimeError("database briefly away")

    await buses.consumer.subscribe(buses.queue, ["taskflow.test.#"], flaky)
    await buses.publisher.publish(event())

    async def retried() -> bool:
        return len(attempts) >= 2

    await wait_for(retried)
    assert attempts[1] - attempts[0] >= 0.04  # backed off
    await asyncio.sleep(0.2)
    assert len(attempts) == 2
    assert await buses.consumer.dead_letters(buses.queue) == []


async def test_failing_handler_ends_in_dead_letter_queue_with_error(buses: Buses) -> None:
    calls: list[str] = []

    async def broken(e: CloudEvent) -> None:
        calls.append(e.id)
        raise ValueError(f"cannot handle {e.data['n']}")

    healthy: list[str] = []

    await buses.consumer.subscribe(buses.queue, ["taskflow.test.#"], broken)
    bad = event(n=7)
    await buses.publisher.publish(bad)

    async def parked() -> bool:
        return len(await buses.consumer.dead_letters(buses.queue)) == 1

    await wait_for(parked)
    [letter] = await buses.consumer.dead_letters(buses.queue)
    assert letter.event is not None and letter.event.id == bad.id
    assert "ValueError" in letter.error and "cannot handle 7" in letter.error
    assert letter.attempts == 3 and calls == [bad.id] * 3  # first try + max_retries
    # Reading the DLQ does not consume it.
    assert len(await buses.consumer.dead_letters(buses.queue)) == 1
    del healthy


async def test_queue_keeps_events_while_its_consumer_is_away(buses: Buses) -> None:
    got: list[str] = []

    async def handler(e: CloudEvent) -> None:
        got.append(e.id)

    await buses.consumer.subscribe(buses.queue, ["taskflow.test.#"], handler)
    await buses.consumer.unsubscribe(buses.queue)
    missed = event()
    await buses.publisher.publish(missed)
    await asyncio.sleep(0.1)
    assert got == []
    await buses.consumer.subscribe(buses.queue, ["taskflow.test.#"], handler)

    async def delivered() -> bool:
        return got == [missed.id]

    await wait_for(delivered)


async def test_an_outage_is_retried_for_as_long_as_it_lasts_never_parked(buses: Buses) -> None:
    attempts: list[float] = []

    async def database_away(e: CloudEvent) -> None:
        attempts.append(time.monotonic())
        if len(attempts) <= 5:  # more failures than max_retries (2) allows for a bug
            raise ConnectionRefusedError("database unreachable")

    await buses.consumer.subscribe(buses.queue, ["taskflow.test.#"], database_away)
    await buses.publisher.publish(event())

    async def handled() -> bool:
        return len(attempts) == 6

    await wait_for(handled)
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    assert gaps[-1] > gaps[0]  # backing off
    assert await buses.consumer.dead_letters(buses.queue) == []
    assert await buses.consumer.dead_letter_count(buses.queue) == 0


async def test_a_permanent_failure_is_parked_at_once(buses: Buses) -> None:
    calls: list[str] = []

    async def malformed(e: CloudEvent) -> None:
        calls.append(e.id)
        raise PermanentError("payload lacks team_id")

    await buses.consumer.subscribe(buses.queue, ["taskflow.test.#"], malformed)
    bad = event()
    await buses.publisher.publish(bad)

    async def parked() -> bool:
        return await buses.consumer.dead_letter_count(buses.queue) == 1

    await wait_for(parked)
    [letter] = await buses.consumer.dead_letters(buses.queue)
    assert letter.id == bad.id and letter.attempts == 1 and calls == [bad.id]
    assert letter.error == "PermanentError: payload lacks team_id"


async def test_parked_events_are_replayed_or_purged_by_id_or_all(buses: Buses) -> None:
    fixed = False
    handled: list[str] = []

    async def handler(e: CloudEvent) -> None:
        if not fixed:
            raise PermanentError("not yet")
        handled.append(e.id)

    await buses.consumer.subscribe(buses.queue, ["taskflow.test.#"], handler)
    first, second, third = event(n=1), event(n=2), event(n=3)
    for e in (first, second, third):
        await buses.publisher.publish(e)

    async def all_parked() -> bool:
        return await buses.consumer.dead_letter_count(buses.queue) == 3

    await wait_for(all_parked)
    fixed = True
    assert await buses.consumer.replay_dead_letters(buses.queue, [second.id]) == 1

    async def second_handled() -> bool:
        return handled == [second.id]

    await wait_for(second_handled)
    assert [d.id for d in await buses.consumer.dead_letters(buses.queue)] == [first.id, third.id]
    assert await buses.consumer.purge_dead_letters(buses.queue, [third.id]) == 1
    assert await buses.consumer.replay_dead_letters(buses.queue, ["no-such-id"]) == 0
    assert await buses.consumer.replay_dead_letters(buses.queue) == 1

    async def first_handled() -> bool:
        return handled == [second.id, first.id]

    await wait_for(first_handled)
    assert await buses.consumer.dead_letter_count(buses.queue) == 0
    await asyncio.sleep(0.2)
    assert third.id not in handled


def test_unknown_bus_url() -> None:
    with pytest.raises(ValueError, match="unknown event bus URL"):
        create_bus("kafka://nope")


async def test_a_broadcast_reaches_every_subscribed_bus_and_queues_still_get_one(
    buses: Buses,
) -> None:
    """Two processes of one service: the service queue hands an event to one of them, a
    broadcast subscription to each."""
    on_consumer: list[str] = []
    on_publisher: list[str] = []
    in_queue: list[str] = []

    def recorder(into: list[str]) -> MessageHandler:
        async def record(e: CloudEvent) -> None:
            into.append(e.id)

        return record

    revoked = "taskflow.test.widget.revoked.v1"
    await buses.consumer.subscribe_broadcast([revoked], recorder(on_consumer))
    await buses.publisher.subscribe_broadcast([revoked], recorder(on_publisher))
    await buses.consumer.subscribe(buses.queue, [revoked], recorder(in_queue))
    sent = [event("revoked", n=n) for n in range(3)]
    await buses.publisher.publish(event("created"))
    for e in sent:
        await buses.publisher.publish(e)

    async def everywhere() -> bool:
        return min(len(on_consumer), len(on_publisher), len(in_queue)) >= 3

    await wait_for(everywhere)
    await asyncio.sleep(0.2)
    ids = sorted(e.id for e in sent)
    assert sorted(on_consumer) == sorted(on_publisher) == sorted(in_queue) == ids


async def test_a_failing_broadcast_handler_is_logged_and_the_next_event_still_arrives(
    buses: Buses, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[int] = []

    async def fails_once(e: CloudEvent) -> None:
        seen.append(int(e.data["n"]))
        if len(seen) == 1:
            raise ValueError("broken handler")

    await buses.consumer.subscribe_broadcast(["taskflow.test.#"], fails_once)
    await buses.publisher.publish(event(n=1))

    async def first_seen() -> bool:
        return seen == [1]

    await wait_for(first_seen)
    await buses.publisher.publish(event(n=2))

    async def second_seen() -> bool:
        return seen == [1, 2]

    await wait_for(second_seen)
    assert "broadcast handler failed" in caplog.text
    assert await buses.consumer.dead_letter_count(buses.queue) == 0


async def test_a_closed_bus_gets_no_more_broadcasts(buses: Buses) -> None:
    closed: list[str] = []
    open_: list[str] = []

    async def on_closed(e: CloudEvent) -> None:
        closed.append(e.id)

    async def on_open(e: CloudEvent) -> None:
        open_.append(e.id)

    # The consumer publishes: the fixture tears the exchange down through it.
    await buses.publisher.subscribe_broadcast(["taskflow.test.#"], on_closed)
    await buses.consumer.subscribe_broadcast(["taskflow.test.#"], on_open)
    await buses.publisher.close()
    later = event()
    await buses.consumer.publish(later)

    async def arrived() -> bool:
        return open_ == [later.id]

    await wait_for(arrived)
    await asyncio.sleep(0.1)
    assert closed == []


async def test_waiting_events_go_to_the_batch_handler_together_in_order(buses: Buses) -> None:
    seen: list[str] = []
    sizes: list[int] = []

    async def one(e: CloudEvent) -> None:
        seen.append(e.id)
        sizes.append(1)

    async def many(events: Sequence[CloudEvent]) -> None:
        seen.extend(e.id for e in events)
        sizes.append(len(events))

    # Subscribed once so that the queue keeps what arrives while its consumer is away.
    await buses.consumer.subscribe(buses.queue, ["taskflow.test.#"], one, batch_handler=many)
    await buses.consumer.unsubscribe(buses.queue)
    sent = [event(n=n) for n in range(12)]
    for e in sent:
        await buses.publisher.publish(e)
    await asyncio.sleep(0.2)
    await buses.consumer.subscribe(buses.queue, ["taskflow.test.#"], one, batch_handler=many)

    async def all_arrived() -> bool:
        return len(seen) >= len(sent)

    await wait_for(all_arrived)
    await asyncio.sleep(0.2)
    assert seen == [e.id for e in sent]  # each once, in order
    assert max(sizes) > 1  # they waited together, so they went together
    assert max(sizes) <= 5  # at most batch_size (the fixture's 5)


async def test_a_lone_event_is_not_held_back_for_a_batch(buses: Buses) -> None:
    handled: list[float] = []

    async def one(e: CloudEvent) -> None:
        handled.append(time.monotonic())

    async def many(events: Sequence[CloudEvent]) -> None:
        handled.extend(time.monotonic() for _ in events)

    await buses.consumer.subscribe(buses.queue, ["taskflow.test.#"], one, batch_handler=many)
    sent_at = time.monotonic()
    await buses.publisher.publish(event())

    async def arrived() -> bool:
        return bool(handled)

    await wait_for(arrived)
    # The fixture's linger is 10 s: waiting for company would show.
    assert handled[0] - sent_at < 2.0


async def test_a_failed_batch_goes_one_by_one_and_parks_only_the_poison(buses: Buses) -> None:
    sent = [event(n=n) for n in range(6)]
    poison = sent[3].id
    batch_calls: list[list[str]] = []
    applied: list[str] = []

    async def one(e: CloudEvent) -> None:
        if e.id == poison:
            raise PermanentError("poison")
        applied.append(e.id)

    async def many(events: Sequence[CloudEvent]) -> None:
        batch_calls.append([e.id for e in events])
        if poison in batch_calls[-1]:
            raise PermanentError("poison in the batch")
        applied.extend(e.id for e in events)

    await buses.consumer.subscribe(buses.queue, ["taskflow.test.#"], one, batch_handler=many)
    await buses.consumer.unsubscribe(buses.queue)
    for e in sent:
        await buses.publisher.publish(e)
    await asyncio.sleep(0.2)
    await buses.consumer.subscribe(buses.queue, ["taskflow.test.#"], one, batch_handler=many)

    async def settled() -> bool:
        return len(applied) == 5 and len(await buses.consumer.dead_letters(buses.queue)) == 1

    await wait_for(settled)
    await asyncio.sleep(0.2)
    assert applied == [e.id for e in sent if e.id != poison]  # each once, in order
    [letter] = await buses.consumer.dead_letters(buses.queue)
    assert letter.id == poison and "poison" in letter.error and letter.attempts == 1
    assert any(poison in call and len(call) > 1 for call in batch_calls)


async def test_publish_many_sends_the_stored_bodies_in_order_and_counts_them(
    buses: Buses,
) -> None:
    got: list[CloudEvent] = []

    async def handler(e: CloudEvent) -> None:
        got.append(e)

    await buses.consumer.subscribe(buses.queue, ["taskflow.test.#"], handler)
    sent = [event(n=n) for n in range(40)]
    outcome = await buses.publisher.publish_many(
        [OutgoingEvent(e.id, e.type, e.to_json()) for e in sent]
    )
    assert outcome == Published(len(sent))

    async def all_arrived() -> bool:
        return len(got) >= len(sent)

    await wait_for(all_arrived)
    assert [e.id for e in got] == [e.id for e in sent]
    assert got[7].data == {"n": 7}
