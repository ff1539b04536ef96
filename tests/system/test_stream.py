"""The live stream through the gateway: its own router streams the answer as it comes
(the emulator's transport and its ASGI app both), so a member sees a comment's
notification and the task's change while the stream is open, and resumes after its last
event with nothing repeated."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from taskflow_embedded.gateway import GatewayApp
from taskflow_embedded.streaming import StreamingASGITransport

from .conftest import SHARED_STACK_TESTS, System, shared_stack, team_with_member

pytestmark = SHARED_STACK_TESTS
system = shared_stack()

STREAM = "/api/v1/notifications/stream"


async def events(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    fields: dict[str, str] = {}
    async for line in lines:
        if not line:
            if "event" in fields:
                yield {**fields, "data": json.loads(fields["data"])}
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value


async def until(
    stream: AsyncIterator[dict[str, Any]], wanted: Any, seconds: float = 60
) -> list[dict[str, Any]]:
    """The events up to and including the first ``wanted`` accepts."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while not seen or not wanted(seen[-1]):
        seen.append(await asyncio.wait_for(anext(stream), deadline - time.monotonic()))
    return seen


async def test_a_member_sees_a_comment_live_through_the_gateway(system: System) -> None:
    world = await team_with_member(system, "streamlead", "streamdev")
    task_id = world["task"]["id"]

    def comment_noted(event: dict[str, Any]) -> bool:
        data = event["data"]
        return bool(event["event"] == "notification" and data.get("kind") == "task_commented")

    async with system.client.stream("GET", STREAM, headers=world["dev"]) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response.aiter_lines())
        [hello] = await until(stream, lambda e: True)
        assert hello["event"] == "unread"
        posted = await system.client.post(
            f"/api/v1/tasks/{task_id}/comments", headers=world["lead"], json={"body": "Live?"}
        )
        assert posted.status_code == 201, posted.text
        seen = await until(stream, comment_noted)
        changes = await until(
            stream, lambda e: e["event"] == "task.changed" and e["data"]["change"] == "commented"
        )
    note = seen[-1]["data"]
    assert note["task_id"] == task_id and note["body"] == "Live?" and note["unread_count"] >= 1
    assert note["actor"]["username"] == "streamlead"
    change = changes[-1]["data"]
    assert change["task_id"] == task_id and change["actor"]["username"] == "streamlead"
    last = changes[-1]["id"]

    # Resumed through the gateway's ASGI app (make up's emulator): nothing is repeated,
    # and the next change arrives.
    app = GatewayApp(system.stack.upstreams())
    client = httpx.AsyncClient(
        transport=StreamingASGITransport(app, client=("127.0.0.1", 40000)),
        base_url=system.stack.gateway_url,
    )
    async with (
        client,
        client.stream("GET", STREAM, headers={**world["dev"], "Last-Event-ID": last}) as resumed,
    ):
        assert resumed.headers["content-type"].startswith("text/event-stream")
        stream = events(resumed.aiter_lines())
        moved = await system.client.patch(
            f"/api/v1/tasks/{task_id}", headers=world["dev"], json={"status": "in_review"}
        )
        assert moved.status_code == 200, moved.text
        [change] = await until(stream, lambda e: True)
    assert change["event"] == "task.changed" and change["data"]["change"] == "updated"
    assert int(change["id"]) == int(last) + 1
