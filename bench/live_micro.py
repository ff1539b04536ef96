"""Notify's live streams held open and idle, in process: CPU and statements a second.

    uv run --frozen python bench/live_micro.py --streams 200 --seconds 10

The notify app on a fresh PostgreSQL database (its migrations, an in-memory bus, eager
Celery, emails as files), then ``--streams`` clients of GET /api/v1/notifications/stream,
each a different user, driven through the app's ASGI interface as a server would (no
network: the clients cost next to nothing while nothing is sent). After each has its
first event and a settling pause, ``--seconds`` of nothing happening: this process's CPU
milliseconds a second (notify's polls, its heartbeats, the clients' waits) and the
statements sent a second. PostgreSQL's own CPU is not counted; its work follows the
statements. Needs the local PostgreSQL (``TEST_POSTGRES_URL``) and drops its database
after.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from taskflow_chassis.testing import (
    TestTokens,
    app_running,
    fresh_postgres_database,
    get_scope,
    statements_sent,
)
from taskflow_notify.app import create_app
from taskflow_notify.config import NotifySettings

SETTLE_SECONDS = 2.0


class Client:
    """One stream's client: asks, reads until the first event, then holds the stream open
    until ``gone`` is set."""

    def __init__(self, app: Any, token: str, gone: asyncio.Event) -> None:
        self.app = app
        self.gone = gone
        self.asked = False
        self.first = asyncio.Event()
        self.received = b""
        self.scope = get_scope(
            "/api/v1/notifications/stream", [(b"authorization", f"Bearer {token}".encode())]
        )

    async def _receive(self) -> dict[str, Any]:
        if not self.asked:
            self.asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start" and message["status"] != 200:
            raise SystemExit(f"the stream answered {message['status']}")
        self.received += message.get("body", b"")
        if b"event: " in self.received:
            self.first.set()

    async def run(self) -> None:
        await self.app(self.scope, self._receive, self._send)


async def run(streams: int, seconds: float) -> None:
    tokens = TestTokens()
    data_dir = Path(tempfile.mkdtemp(prefix="live-micro-"))
    async with fresh_postgres_database("taskflow_live_micro") as url:
        settings = NotifySettings(
            data_dir=data_dir,
            database_url=url,
            event_bus_url=f"memory://live-micro-{uuid.uuid4().hex[:8]}",
            public_url="https://taskflow.example",
            email_url=f"file://{data_dir / 'mail'}",
            reminder_timer=False,
        )
        app = create_app(settings, jwks_fetcher=tokens.jwks)
        async with app_running(app):
            app.state.revocations.complete = True
            gone = asyncio.Event()
            clients = [
                Client(app, str(tokens.access_token(uuid.uuid4())), gone) for _ in range(streams)
            ]
            tasks = [asyncio.create_task(client.run()) for client in clients]
            await asyncio.wait_for(asyncio.gather(*(c.first.wait() for c in clients)), 120)
            await asyncio.sleep(SETTLE_SECONDS)
            with statements_sent(app.state.database) as sent:
                wall, cpu = time.perf_counter(), time.process_time()
                await asyncio.sleep(seconds)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            gone.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 60)
    print(
        f"{streams} idle streams for {wall:.1f} s (a poll every {settings.live_poll_seconds} s): "
        f"{1000 * cpu / wall:.1f} ms of this process's CPU a second, "
        f"{len(sent) / wall:.1f} statements a second"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    options = parser.parse_args()
    asyncio.run(run(options.streams, options.seconds))


if __name__ == "__main__":
    main()
