"""The in-process bus: what embedded mode and every service test rely on.

The contract both adapters share (routing, retry, dead letters) is in test_bus.py;
this file covers what is particular to the memory hub.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from taskflow_chassis.bus import create_bus
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.events import CloudEvent, new_event


def event(kind: str = "created", service: str = "test", **data: object) -> CloudEvent:
    return new_event(f"taskflow.{service}.widget.{kind}.v1", source="/test", data=data)


def memory_bus(url: str, *, max_retries: int = 5, retry_base_seconds: float = 0.5) -> MemoryBus:
    bus = create_bus(url, max_retries=max_retries, retry_base_seconds=retry_base_seconds)
    assert isinstance(bus, MemoryBus)
    return bus


@pytest.fixture
async def bus(memory_url: str) -> AsyncIterator[MemoryBus]:
    bus = memory_bus(memory_url, max_retries=2, retry_base_seconds=0.05)
    await bus.connect()
    yield bus
    await bus.close()


class Recorder:
    def __init__(self) -> None:
        self.seen: list[CloudEvent] = []

    async def __call__(self, e: CloudEvent) -> None:
        self.seen.append(e)

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.seen]


async def test_buses_of_one_hub_see_each_other_and_other_hubs_do_not(memory_url: str) -> None:
    # Embedded mode: each service creates its own bus from the same URL.
    auth, teams = memory_bus(memory_url), memory_bus(memory_url)
    elsewhere = memory_bus(memory_url + "-other")
    for b in (auth, teams, elsewhere):
        await b.connect()
    in_teams, in_elsewhere = Recorder(), Recorder()
    await teams.subscribe("teams", ["taskflow.auth.#"], in_teams)
    await elsewhere.subscribe("teams", ["taskflow.auth.#"], in_elsewhere)
    sent = event(service="auth")
    await auth.publish(sent)
    await auth.drain()
    await elsewhere.drain()
    assert in_teams.ids == [sent.id] and in_elsewhere.ids == []
    for b in (auth, teams, elsewhere):
        await b.close()


async def test_plain_memory_url_is_the_default_hub() -> None:
    one, two = memory_bus("memory://"), memory_bus("memory://")
    await one.connect()
    await two.connect()
    got = Recorder()
    queue = f"q-{uuid.uuid4().hex[:8]}"
    await two.subscribe(queue, ["taskflow.test.#"], got)
    sent = event()
    await one.publish(sent)
    await one.drain()
    assert got.ids == [sent.id]
    await one.close()
    await two.close()


async def test_an_event_without_a_bound_queue_is_not_kept(bus: MemoryBus) -> None:
    early = event()
    await bus.publish(early)  # no queue yet: dropped, as by a topic exchange
    got = Recorder()
    await bus.subscribe("svc", ["taskflow.test.#"], got)
    late = event()
    await bus.publish(late)
    await bus.drain()
    assert got.ids == [late.id]


async def test_routes_by_topic_pattern(bus: MemoryBus) -> None:
    got = Recorder()
    await bus.subscribe("svc", ["taskflow.*.widget.created.v1", "taskflow.teams.#"], got)
    wanted = [event(service="auth"), event("deleted", service="teams")]
    unwanted = [
        event("deleted", service="auth"),
        new_event("taskflow.auth.gadget.created.v1", source="/test", data={}),
    ]
    for e in [*wanted, *unwanted]:
        await bus.publish(e)
    await bus.drain()
    assert got.ids == [e.id for e in wanted]


async def test_queue_keeps_messages_while_its_handler_is_busy(bus: MemoryBus) -> None:
    release = asyncio.Event()
    got: list[str] = []

    async def slow(e: CloudEvent) -> None:
        await release.wait()
        got.append(e.id)

    await bus.subscribe("svc", ["taskflow.test.#"], slow)
    sent = [event(n=n) for n in range(4)]
    started = time.monotonic()
    for e in sent:
        await bus.publish(e)  # returns at once: the handler runs in the queue's worker
    assert time.monotonic() - started < 0.5
    await asyncio.sleep(0.05)
    assert got == []
    release.set()
    await bus.drain()
    assert got == [e.id for e in sent]


async def test_retries_back_off_exponentially_without_holding_up_the_queue(
    memory_url: str,
) -> None:
    bus = memory_bus(memory_url, max_retries=3, retry_base_seconds=0.05)
    await bus.connect()
    tries: list[float] = []
    order: list[str] = []

    async def handler(e: CloudEvent) -> None:
        order.append(e.data["name"])
        if e.data["name"] == "flaky":
            tries.append(time.monotonic())
            if len(tries) < 4:
                raise RuntimeError("not yet")

    await bus.subscribe("svc", ["taskflow.test.#"], handler)
    await bus.publish(event(name="flaky"))
    await bus.publish(event(name="healthy"))
    await bus.drain()
    assert order[:2] == ["flaky", "healthy"]  # the healthy one did not wait for the back-off
    assert len(tries) == 4  # first try + 3 retries, the last one succeeded
    gaps = [later - earlier for earlier, later in itertools.pairwise(tries)]
    # Each wait at least its doubling share (a busy machine only makes a wait longer, so
    # comparing two waits with each other would fail when the first one is late).
    for n, gap in enumerate(gaps):
        assert gap >= 0.05 * 2**n * 0.9, gaps
    assert await bus.dead_letters("svc") == []
    await bus.close()


async def test_dead_letter_records_error_and_attempts(bus: MemoryBus) -> None:
    async def broken(e: CloudEvent) -> None:
        raise KeyError("team_id")

    await bus.subscribe("svc", ["taskflow.test.#"], broken)
    bad = event()
    await bus.publish(bad)
    await bus.drain()  # waits for the retries, not only the first try
    [letter] = await bus.dead_letters("svc")
    assert letter.event == bad
    assert letter.error == "KeyError: 'team_id'"
    assert letter.attempts == 3
    assert await bus.dead_letters("other") == []


async def test_drain_times_out_on_a_stuck_handler(bus: MemoryBus) -> None:
    never = asyncio.Event()

    async def stuck(e: CloudEvent) -> None:
        await never.wait()

    await bus.subscribe("stuck-queue", ["taskflow.test.#"], stuck)
    await bus.publish(event())
    with pytest.raises(TimeoutError, match="stuck-queue"):
        await bus.drain(timeout=0.2)
    never.set()
    await bus.drain()


async def test_unsubscribe_lets_the_running_handler_finish_and_keeps_the_rest(
    bus: MemoryBus,
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    got: list[str] = []

    async def slow(e: CloudEvent) -> None:
        entered.set()
        await release.wait()
        got.append(e.id)

    await bus.subscribe("svc", ["taskflow.test.#"], slow)
    sent = [event(n=n) for n in range(3)]
    for e in sent:
        await bus.publish(e)
    await entered.wait()
    stopping = asyncio.create_task(bus.unsubscribe("svc"))
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waits for the handler instead of cutting it off
    release.set()
    await stopping
    assert got == [sent[0].id]
    late = event(n=3)
    await bus.publish(late)  # still bound: kept for the next consumer
    await bus.subscribe("svc", ["taskflow.test.#"], slow)
    await bus.drain()
    assert got == [e.id for e in [*sent, late]]


async def test_a_queue_has_one_consumer(bus: MemoryBus) -> None:
    await bus.subscribe("svc", ["taskflow.test.#"], Recorder())
    with pytest.raises(RuntimeError, match="already has a consumer"):
        await bus.subscribe("svc", ["taskflow.test.#"], Recorder())


async def test_connection_state(memory_url: str) -> None:
    bus = memory_bus(memory_url)
    assert not await bus.ping()
    with pytest.raises(ConnectionError):
        await bus.publish(event())
    await bus.connect()
    assert await bus.ping()
    await bus.close()
    assert not await bus.ping()


def test_a_hub_name_works_again_in_a_new_event_loop() -> None:
    # Service tests each get a new loop; a hub left by an earlier loop must not break them.
    url = f"memory://loops-{uuid.uuid4().hex[:8]}"

    async def round_trip() -> list[str]:
        bus = memory_bus(url)
        await bus.connect()
        got = Recorder()
        await bus.subscribe("svc", ["taskflow.test.#"], got)
        await bus.publish(event())
        await bus.drain()
        await bus.close()
        return got.ids

    assert len(asyncio.run(round_trip())) == 1
    assert len(asyncio.run(round_trip())) == 1
