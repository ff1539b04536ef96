"""Notify's live stream as web reads it: one long GET with the person's token, its answer
read as it arrives (never whole), closed when web is done with it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx

from taskflow_web.api.adapters import ApiUnavailable

STREAM = "/api/v1/notifications/stream"
# Connecting may take as long as any call; reading has no end (a quiet stream sends a
# comment every 15 s, and web watches the token's lifetime itself).
STREAM_TIMEOUT = httpx.Timeout(10.0, read=None)


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    token: str,
    last_event_id: str | None,
    headers: dict[str, str],
) -> AsyncIterator[httpx.Response]:
    """The upstream answer, its body not read yet; closed when the block ends. A network
    failure or a 5xx is ``ApiUnavailable``."""
    sent = {**headers, "Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if last_event_id:
        sent["Last-Event-ID"] = last_event_id
    request = client.build_request("GET", STREAM, headers=sent, timeout=STREAM_TIMEOUT)
    try:
        response = await client.send(request, stream=True)
    except httpx.HTTPError as exc:
        raise ApiUnavailable(f"GET {STREAM}: {exc}") from exc
    try:
        if response.status_code >= 500:
            raise ApiUnavailable(f"GET {STREAM}: {response.status_code}")
        yield response
    finally:
        # Shielded: when the browser leaves, Starlette cancels the relay's whole scope, and
        # under anyio every await in it is cancelled too, this close among them; unclosed,
        # the upstream stream stayed open (and notify polling for it) as long as web ran.
        with anyio.CancelScope(shield=True):
            await response.aclose()


class Chunks:
    """The answer's text as it arrives, read by a task of its own so that the reader can
    stop waiting (``next`` with a timeout) without cutting a read in half."""

    def __init__(self, response: httpx.Response) -> None:
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._pump(response))

    async def _pump(self, response: httpx.Response) -> None:
        try:
            async for text in response.aiter_text():
                await self._queue.put(text)
        except httpx.HTTPError:
            pass  # the stream broke: the same as its end
        finally:
            await self._queue.put(None)

    async def next(self, timeout: float) -> str | None:  # noqa: ASYNC109 - a poll, by design
        """The next piece of text; ``""`` when none came within ``timeout``; None at the end."""
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return ""

    async def close(self) -> None:
        self._task.cancel()
        with anyio.CancelScope(shield=True), contextlib.suppress(asyncio.CancelledError):
            await self._task
