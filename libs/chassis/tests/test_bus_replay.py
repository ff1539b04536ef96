"""A replay goes over what is parked once, even while the consumer parks it again."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from taskflow_chassis.bus import EventBus, create_bus
from taskflow_chassis.bus.rabbitmq import RabbitMQBus
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.failures import PermanentError
from taskflow_chassis.testing import require_rabbitmq


@pytest.fixture(params=["memory", "rabbitmq"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[tuple[EventBus, str]]:
    suffix = uuid.uuid4().hex[:8]
    # An exchange of the test's own (the memory bus ignores it).
    exchange = f"taskflow.test.{suffix}"
    url = f"memory://replay-{suffix}" if request.param == "memory" else require_rabbitmq()
    bus = create_bus(url, max_retries=0, retry_base_seconds=0.01, exchange=exchange)
    await bus.connect()
    queue = f"replay-{suffix}"
    yield bus, queue
    if isinstance(bus, RabbitMQBus):
        await bus.delete_queues(queue)
        await bus.delete_exchange()
    await bus.close()


async def test_replaying_events_that_fail_again_ends(bus: tuple[EventBus, str]) -> None:
    events_bus, queue = bus
    attempts: list[str] = []

    async def still_broken(e: CloudEvent) -> None:
        attempts.append(e.id)
        raise PermanentError("still broken")

    await events_bus.subscribe(queue, ["taskflow.test.#"], still_broken)
    for n in range(5):
        await events_bus.publish(
            new_event("taskflow.test.widget.created.v1", source="/t", data={"n": n})
        )

    async def parked(count: int) -> None:
        deadline = time.monotonic() + 10
        while await events_bus.dead_letter_count(queue) != count:
            assert time.monotonic() < deadline, "not parked in time"
            await asyncio.sleep(0.02)

    await parked(5)
    started = time.monotonic()
    replayed = await asyncio.wait_for(events_bus.replay_dead_letters(queue), 10)
    assert replayed == 5 and time.monotonic() - started < 10
    await parked(5)  # back where they were, each tried once more
    await asyncio.sleep(0.2)
    assert len(attempts) == 10
