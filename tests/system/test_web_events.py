"""The browser's live stream on the distributed runtime: web's GET /events, signed in by
the session cookie, relays notify's stream (web → the gateway's internal entry point →
notify, each hop unbuffered) back through the gateway's own router for it. A notification
created while the page listens arrives; a reconnection with Last-Event-ID gets what it
missed; no session, no stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from .conftest import SHARED_STACK_TESTS, System, WebBrowser, shared_stack, team_with_member

pytestmark = [SHARED_STACK_TESTS, pytest.mark.timeout(300)]

WAIT = 60.0


system = shared_stack()


@asynccontextmanager
async def listening(
    browser: WebBrowser, last_event_id: str | None = None
) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    """The page's EventSource: its events as they come (comments skipped)."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    request = browser.client.build_request(
        "GET", "/events", headers=headers, timeout=httpx.Timeout(30, read=None)
    )
    response = await browser.client.send(request, stream=True)
    try:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")

        async def events() -> AsyncIterator[dict[str, Any]]:
            buffer = ""
            async for text in response.aiter_text():
                buffer += text
                while "\n\n" in buffer:
                    block, buffer = buffer.split("\n\n", 1)
                    fields = dict(
                        line.split(": ", 1)
                        for line in block.split("\n")
                        if ": " in line and not line.startswith(":")
                    )
                    if "event" in fields:
                        yield {
                            "id": fields.get("id"),
                            "event": fields["event"],
                            "data": json.loads(fields["data"]),
                        }

        yield events()
    finally:
        await response.aclose()


async def _until(stream: AsyncIterator[dict[str, Any]], wanted: Any) -> list[dict[str, Any]]:
    """The events up to the first ``wanted`` one, within WAIT seconds."""
    deadline = time.monotonic() + WAIT
    seen: list[dict[str, Any]] = []
    while not seen or not wanted(seen[-1]):
        seen.append(await asyncio.wait_for(anext(stream), deadline - time.monotonic()))
    return seen


async def _assign(system: System, world: dict[str, Any], title: str) -> str:
    lead = world["lead"]
    made = await system.client.post(
        f"/api/v1/projects/{world['task']['project_id']}/tasks", headers=lead, json={"title": title}
    )
    assert made.status_code == 201, made.text
    dev_id = world["task"]["assignee_ids"][0]
    assigned = await system.client.post(
        f"/api/v1/tasks/{made.json()['id']}/assignees", headers=lead, json={"user_id": dev_id}
    )
    assert assigned.status_code == 200, assigned.text
    return str(made.json()["id"])


async def test_events_relay_notify_s_stream_through_the_gateway(system: System) -> None:
    world = await team_with_member(system, "evlead", "evdev")
    async with WebBrowser(system) as nobody:
        refused = await nobody.client.get("/events")
        assert refused.status_code == 401
    async with WebBrowser(system) as dev:
        assert await dev.sign_in("/login?next=/notifications", "evdev") == "/notifications"
        async with listening(dev) as stream:
            [greeting] = await _until(stream, lambda e: e["event"] == "unread")
            task_id = await _assign(system, world, "Live through the gateway")
            seen = await _until(
                stream,
                lambda e: e["event"] == "notification" and e["data"]["task_id"] == task_id,
            )
            assert int(seen[-1]["id"]) > int(greeting["id"])
            last = seen[-1]["id"]
        missed = await _assign(system, world, "While the page was away")
        async with listening(dev, last_event_id=last) as resumed:
            seen = await _until(
                resumed,
                lambda e: e["event"] == "notification" and e["data"]["task_id"] == missed,
            )
            assert all(int(e["id"]) > int(last) for e in seen)
            # Nothing twice: the first task's notification was passed on before.
            notified = [e["data"]["task_id"] for e in seen if e["event"] == "notification"]
            assert task_id not in notified
