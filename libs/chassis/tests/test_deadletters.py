"""``dlq``: list, replay and purge a service's parked events from the command line."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from taskflow_chassis.bus import create_bus
from taskflow_chassis.bus.rabbitmq import RabbitMQBus
from taskflow_chassis.cli import run_service
from taskflow_chassis.config import ServiceSettings
from taskflow_chassis.deadletters import dlq_command, queue_name
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.failures import PermanentError
from taskflow_chassis.testing import require_rabbitmq

pytestmark = pytest.mark.rabbitmq

TYPE = "taskflow.test.widget.created.v1"


@pytest.fixture
async def settings() -> AsyncIterator[ServiceSettings]:
    suffix = uuid.uuid4().hex[:8]
    settings = ServiceSettings(
        service_name="widgets",
        event_bus_url=require_rabbitmq(),
        event_exchange=f"taskflow.test.{suffix}",
        event_queue_prefix=f"t{suffix}.",
    )
    yield settings
    bus = create_bus(settings.event_bus_url, exchange=settings.event_exchange)
    assert isinstance(bus, RabbitMQBus)
    await bus.connect()
    await bus.delete_queues(queue_name(settings))
    await bus.delete_exchange()
    await bus.close()


async def test_list_replay_and_purge(
    settings: ServiceSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    bus = create_bus(settings.event_bus_url, exchange=settings.event_exchange)
    await bus.connect()
    handled: list[str] = []
    fixed = False

    async def handler(e: CloudEvent) -> None:
        if not fixed:
            raise PermanentError(f"cannot handle {e.data['n']}")
        handled.append(e.id)

    queue = queue_name(settings)
    await bus.subscribe(queue, [TYPE], handler)
    first, second = (new_event(TYPE, source="/t", data={"n": n}) for n in (1, 2))
    await bus.publish(first)
    await bus.publish(second)
    try:
        for _ in range(200):
            if await bus.dead_letter_count(queue) == 2:
                break
            await asyncio.sleep(0.05)
        assert await dlq_command(settings, ["list", "--json"]) == 0
        listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [item["id"] for item in listed] == [first.id, second.id]
        assert listed[0]["type"] == TYPE and listed[0]["attempts"] == 1
        assert listed[0]["error"] == "PermanentError: cannot handle 1"

        fixed = True
        assert await dlq_command(settings, ["replay", "--id", second.id]) == 0
        assert f"replayed 1 into {queue}" in capsys.readouterr().out
        assert await dlq_command(settings, ["replay", "--id", "nope"]) == 1
        assert await dlq_command(settings, ["purge", "--all"]) == 0
        assert "purged 1" in capsys.readouterr().out
        for _ in range(200):
            if handled:
                break
            await asyncio.sleep(0.05)
        assert handled == [second.id]
        assert await bus.dead_letter_count(queue) == 0
    finally:
        await bus.close()


def never_served(settings: ServiceSettings) -> FastAPI:
    raise AssertionError("an unknown command serves nothing")


def test_the_command_line_names_its_commands(capsys: pytest.CaptureFixture[str]) -> None:
    settings = ServiceSettings(service_name="widgets")
    with pytest.raises(SystemExit) as exited:
        run_service(never_served, settings, {"replica": dlq_command}, argv=["nope"])
    assert exited.value.code == 2
    assert "serve | dlq | replica" in capsys.readouterr().err
