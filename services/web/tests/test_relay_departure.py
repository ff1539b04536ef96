"""A browser that leaves its live stream ends web's upstream stream to notify as well.

Over real connections (uvicorn on both sides), as in production: when the browser goes,
Starlette cancels the relay's scope, and every await in it is cancelled with it; the
upstream's close must still happen, or notify goes on polling its database twice a
second for a reader that is gone, for as long as web runs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route
from taskflow_chassis.ports import free_port
from taskflow_web.notifications.adapters import STREAM
from taskflow_web.notifications.service import Relay


class Upstream:
    """Notify's stream as web sees it: a greeting, then a comment every tenth of a second,
    until its reader goes; counts the streams opened and ended."""

    def __init__(self) -> None:
        self.opened = 0
        self.ended = 0

    async def stream(self, request: Request) -> StreamingResponse:
        async def frames() -> AsyncIterator[str]:
            self.opened += 1
            try:
                yield 'id: 1\nevent: unread\ndata: {"unread_count": 0}\n\n'
                while True:
                    await asyncio.sleep(0.1)
                    yield ": still here\n\n"
            finally:
                self.ended += 1

        return StreamingResponse(frames(), media_type="text/event-stream")


class FreshToken(Relay):
    def _due(self) -> bool:
        return False


async def until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # noqa: ASYNC110 - others' state
        await asyncio.sleep(0.02)


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    config.lifespan = "off"
    config.timeout_graceful_shutdown = 1
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started, 10)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def test_a_browser_that_leaves_ends_the_upstream_stream() -> None:
    upstream = Upstream()
    async with serving(Starlette(routes=[Route(STREAM, upstream.stream)])) as notify_url:
        api_client = httpx.AsyncClient(base_url=notify_url)
        api: Any = SimpleNamespace(client=api_client, session=SimpleNamespace(access_token="t"))

        async def events(request: Request) -> StreamingResponse:
            relay = FreshToken(api, None, margin_seconds=30, check_seconds=1, headers={})
            return StreamingResponse(relay.events(), media_type="text/event-stream")

        web = Starlette(routes=[Route("/events", events)])
        async with serving(web) as web_url, httpx.AsyncClient(base_url=web_url) as browser:
            for visit in range(1, 4):
                async with browser.stream("GET", "/events") as page:
                    first = await anext(page.aiter_text())
                    assert "event: unread" in first
                    assert upstream.opened == visit
                # The page is gone (its connection closed): so is web's stream to notify.
                await until(lambda: upstream.ended >= visit, 5)  # noqa: B023 - awaited here
                assert upstream.ended == visit, "web kept notify's stream open"
        await api_client.aclose()
