"""An httpx transport to an ASGI app in this process that hands the answer over as it is
sent, chunk by chunk: httpx's own ``ASGITransport`` waits for the whole body, so a
Server-Sent Events stream (notify's /api/v1/notifications/stream, which never ends by
itself) would never arrive. Web calls the API through the dispatcher with it in make dev.

Closing the answer tells the app that the client went away (``http.disconnect``), as a
server does when a browser leaves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from starlette.types import ASGIApp, Message

# How long a closed answer's app gets to finish after the disconnect, before it is cancelled.
GRACE_SECONDS = 5.0


class _Body(httpx.AsyncByteStream):
    def __init__(
        self,
        sent: asyncio.Queue[Message | BaseException],
        gone: asyncio.Event,
        task: asyncio.Task[None],
    ) -> None:
        self.sent, self.gone, self.task = sent, gone, task
        self.ended = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while not self.ended:
            message = await self.sent.get()
            if isinstance(message, BaseException):
                self.ended = True
                raise httpx.ReadError(str(message)) from message
            if message["type"] != "http.response.body":
                continue
            self.ended = not message.get("more_body", False)
            body: bytes = message.get("body", b"")
            if body:
                yield body

    async def aclose(self) -> None:
        self.gone.set()
        if self.task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self.task), GRACE_SECONDS)
        except Exception:  # timed out or failed: the client is gone either way
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


class StreamingASGITransport(httpx.AsyncBaseTransport):
    def __init__(
        self, app: ASGIApp, client: tuple[str, int] = ("127.0.0.1", 123), root_path: str = ""
    ) -> None:
        self.app, self.client, self.root_path = app, client, root_path

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for (k, v) in request.headers.raw],
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": (request.url.host, request.url.port),
            "client": self.client,
            "root_path": self.root_path,
        }
        sent: asyncio.Queue[Message | BaseException] = asyncio.Queue()
        gone = asyncio.Event()
        asked = False

        async def receive() -> Message:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": body, "more_body": False}
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            await sent.put(message)

        async def run() -> None:
            try:
                await self.app(scope, receive, send)
            except BaseException as exc:  # handed to the reader
                await sent.put(exc)
                if not isinstance(exc, Exception):
                    raise

        task = asyncio.create_task(run())
        try:
            start = await sent.get()
        except BaseException:
            gone.set()
            task.cancel()
            raise
        if isinstance(start, BaseException):
            with contextlib.suppress(BaseException):
                await task
            raise start
        assert start["type"] == "http.response.start", start
        return httpx.Response(
            status_code=start["status"],
            headers=start.get("headers", []),
            stream=_Body(sent, gone, task),
            request=request,
        )
