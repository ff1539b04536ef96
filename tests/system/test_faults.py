"""Faults on the running distributed stack: nothing lost, nothing twice.

Each test prints its figures (events sent, notifications and emails received,
duplicates, recovery time).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from taskflow_chassis.db import connect_postgres

from .conftest import (
    FIGURES,
    System,
    duplicates,
    send_comments,
    team_with_member,
    wait_all_delivered,
)

# Hundreds of events through every process: far longer than a unit test's time limit.
pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(600),
]


async def test_notify_killed_mid_stream_under_500_events(system: System) -> None:
    world = await team_with_member(system, "kilead", "kidev")
    killed_at: dict[str, float] = {}

    async def kill_and_restart(sent: int) -> None:
        if sent >= 150 and "killed" not in killed_at:
            system.stack.kill("notify")  # SIGKILL: consumer, relay and dispatcher die mid-stream
            killed_at["killed"] = time.monotonic()
            system.stack.start_process("notify")
            await system.stack.wait_ready("notify")
            killed_at["restarted"] = time.monotonic()

    await send_comments(system, world, range(500), during=kill_and_restart)
    items, mails = await wait_all_delivered(system, world, 500)
    recovery = time.monotonic() - killed_at["restarted"]
    bodies = [i["body"] for i in items]
    email_ids = [m["X-TaskFlow-Email-Id"] for m in mails]
    FIGURES.append(
        f"notify killed mid-stream: 500 events sent, {len(items)} notifications, "
        f"{len(mails)} emails, "
        f"{duplicates(bodies)} duplicate notifications, {duplicates(email_ids)} duplicate emails, "
        f"all delivered {recovery:.1f} s after the restart"
    )
    assert len(items) == 500 and duplicates(bodies) == 0
    assert sorted(bodies) == sorted(f"comment {n}" for n in range(500))
    assert len(mails) == 500 and duplicates(email_ids) == 0


async def test_broker_connections_dropped(system: System) -> None:
    world = await team_with_member(system, "brlead", "brdev")
    await send_comments(system, world, range(0, 50))
    # Only the stack's own virtual host: other applications' connections are left alone.
    await asyncio.to_thread(system.stack.drop_broker_connections)
    started = time.monotonic()
    await send_comments(system, world, range(50, 150))  # while relays and consumers reconnect
    items, mails = await wait_all_delivered(system, world, 150)
    recovery = time.monotonic() - started
    bodies = [i["body"] for i in items]
    FIGURES.append(
        f"broker connections dropped: 150 events sent, {len(items)} notifications, "
        f"{len(mails)} emails, "
        f"{duplicates(bodies)} duplicates, recovered and delivered in {recovery:.1f} s"
    )
    assert sorted(bodies) == sorted(f"comment {n}" for n in range(150))
    assert len(mails) == 150


async def test_database_unreachable_is_503_and_nothing_half_written(system: System) -> None:
    world = await team_with_member(system, "dblead", "dbdev")
    database = f"{system.stack.name}_work"
    admin = await connect_postgres(system.stack.postgres_url)
    try:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
        )
        url = f"/api/v1/projects/{world['task']['project_id']}/tasks"
        down = await system.client.post(
            url, headers=world["lead"], json={"title": "During the outage"}
        )
        assert down.status_code == 503, down.text
        assert down.headers["content-type"] == "application/problem+json"
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await admin.close()
    started = time.monotonic()

    async def recovered() -> bool:
        answer: httpx.Response = await system.client.post(
            url, headers=world["lead"], json={"title": "After the outage"}
        )
        return answer.status_code == 201

    await system.wait_for(recovered, seconds=60, what="work to reach its database again")
    titles = [
        t["title"]
        for t in (
            await system.client.get(
                "/api/v1/tasks",
                headers=world["lead"],
                params={"project_id": world["task"]["project_id"]},
            )
        ).json()["items"]
    ]
    FIGURES.append(
        f"database unreachable: 503 while down, recovered in {time.monotonic() - started:.1f} s"
    )
    assert "During the outage" not in titles and titles.count("After the outage") == 1


async def test_unknown_and_malformed_messages_are_parked_and_the_rest_flows(system: System) -> None:
    """A type nobody handles, a body that is not a CloudEvent and a payload that fails
    validation each go to the dead-letter queue at once (first attempt), with their error;
    the events behind them are handled; a replay of a fixed one goes through the inbox."""
    import aio_pika
    from taskflow_chassis.events import new_event

    world = await team_with_member(system, "polead", "podev")
    queue = f"{system.stack.name}.notify"
    connection = await aio_pika.connect(system.stack.event_bus_url)
    async with connection:
        channel = await connection.channel()

        async def send(body: bytes) -> None:
            await channel.default_exchange.publish(
                aio_pika.Message(body, content_type="application/cloudevents+json"),
                routing_key=queue,
            )

        unknown = new_event("taskflow.teams.team.exploded.v1", source="/test", data={})
        malformed = new_event(
            "taskflow.work.comment.created.v1", source="/test", data={"comment_id": "nope"}
        )
        await send(unknown.to_json())
        await send(b'{"not": "a cloudevent"')
        await send(malformed.to_json())
    await send_comments(system, world, range(3))  # behind the poison, through the real flow

    async def three_parked() -> Any:
        parked = await system.parked("notify")
        return parked if len(parked) == 3 else None

    started = time.monotonic()
    parked = await system.wait_for(three_parked, seconds=60, what="three parked messages")
    by_id = {p["id"]: p for p in parked}
    assert by_id[unknown.id]["error"].startswith("PermanentError: no handler for")
    # Parsed once by the chassis' handler map, which refuses it as permanent, with why.
    refused = by_id[malformed.id]["error"]
    why = f"PermanentError: {malformed.type} {malformed.id}: unreadable payload"
    assert refused.startswith(why), refused
    assert "validation error" in refused
    assert all(p["attempts"] == 1 for p in parked)
    items, mails = await wait_all_delivered(system, world, 3)
    assert len(items) == 3 and len(mails) == 3
    # /readyz reports the parked events without failing readiness.
    async with httpx.AsyncClient() as direct:
        ready = (await direct.get(f"{system.stack.url('notify')}/readyz")).json()
    assert ready["status"] == "ready" and ready["checks"]["parked_events"] == 3
    code, output = await system.manage("notify", "dlq", "purge", "--all")
    assert code == 0 and "purged 3" in output, output
    assert await system.parked("notify") == []
    FIGURES.append(
        f"poison messages: 3 parked at their first attempt in {time.monotonic() - started:.1f} s, "
        f"3 events behind them delivered, 0 lost; purged by the dlq command"
    )
