"""Auth service fixtures: the app in-process on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from taskflow_auth import app as auth_app
from taskflow_auth.app import create_app
from taskflow_auth.config import AuthSettings
from taskflow_chassis.bus import create_bus
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.events import CloudEvent
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.testing import (
    app_running,
    database_at_head,
)

# The schema each test's database starts at (taskflow_chassis.testing.database_at_head).
MIGRATIONS = migrations_dir(auth_app.__file__)


class EventLog:
    """Collects every event the service publishes, as a consumer would receive it."""

    def __init__(self, bus_url: str, app: FastAPI) -> None:
        bus = create_bus(bus_url)
        assert isinstance(bus, MemoryBus)
        self.bus = bus
        self.app = app
        self.events: list[CloudEvent] = []

    async def start(self) -> None:
        await self.bus.connect()

        async def record(event: CloudEvent) -> None:
            self.events.append(event)

        await self.bus.subscribe("observer", ["taskflow.#"], record)

    async def settle(self) -> list[CloudEvent]:
        """Everything committed so far, published and delivered."""
        await self.app.state.relay.publish_pending()
        await self.bus.drain()
        return self.events

    def of_type(self, event_type: str) -> list[CloudEvent]:
        return [e for e in self.events if e.type == event_type]


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with database_at_head(request.param, tmp_path, MIGRATIONS, "auth") as url:
        yield url


@pytest.fixture
def bus_url() -> str:
    return f"memory://auth-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def settings(database_url: str, bus_url: str, tmp_path: Path) -> AuthSettings:
    return AuthSettings(
        data_dir=tmp_path,
        database_url=database_url,
        event_bus_url=bus_url,
        public_url="https://taskflow.example",
        relay_sweep_seconds=0.2,
    )


@pytest.fixture
async def app(settings: AuthSettings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with app_running(application):
        yield application


@pytest.fixture
async def event_log(bus_url: str, app: FastAPI) -> AsyncIterator[EventLog]:
    log = EventLog(bus_url, app)
    await log.start()
    yield log
    await log.bus.close()


@pytest.fixture
async def client(app: FastAPI, event_log: EventLog) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
    async with AsyncExitStack() as stack:
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://testserver")
        )
        yield client


PASSWORD = "correct-horse-battery"


class AuthApi:
    """Helpers over the HTTP API, handed to tests as the ``api`` fixture."""

    password = PASSWORD

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.deletion_seconds = 0.05  # how long the last one in racing_deletion took

    async def sign_up(
        self, username: str = "alice", email: str | None = None, password: str = PASSWORD
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/auth/users",
            json={
                "username": username,
                "email": email or f"{username}@example.com",
                "password": password,
            },
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def log_in(self, username: str = "alice", password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/auth/jwt/create", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def signed_in(self, username: str = "alice") -> dict[str, str]:
        await self.sign_up(username)
        return self.bearer(await self.log_in(username))

    @staticmethod
    def bearer(tokens: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens['access']}"}

    async def delete_account(self, headers: dict[str, str]) -> httpx.Response:
        return await self.client.request(
            "DELETE", "/api/v1/auth/users/me", headers=headers, json={"current_password": PASSWORD}
        )

    async def racing_deletion(
        self, headers: dict[str, str], request: Callable[[], Awaitable[httpx.Response]]
    ) -> tuple[httpx.Response, httpx.Response]:
        """The account's deletion and ``request``, sent together; ``request`` a random moment
        later, around when the last deletion took to answer, so that rounds land on each
        step of its commit (a fast request sent with it would end before it)."""
        delay = random.uniform(0.3, 1.2) * self.deletion_seconds
        started = time.monotonic()

        async def delete() -> httpx.Response:
            response = await self.delete_account(headers)
            self.deletion_seconds = time.monotonic() - started
            return response

        async def later() -> httpx.Response:
            await asyncio.sleep(delay)
            return await request()

        deleted, answered = await asyncio.gather(delete(), later())
        assert deleted.status_code in {204, 401}, deleted.text
        return deleted, answered


@pytest.fixture
def api(client: httpx.AsyncClient) -> AuthApi:
    return AuthApi(client)
