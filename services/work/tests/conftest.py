"""Work service fixtures: the app in-process on SQLite and PostgreSQL, fed teams' events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.migrations import migrate_to
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.testing import (
    TestTokens,
    app_running,
    database_at_head,
    unreachable_service,
)
from taskflow_contracts import teams
from taskflow_contracts.base import EventPayload
from taskflow_contracts.permissions import BUILT_IN_ROLES
from taskflow_work import app as work_app
from taskflow_work.app import create_app
from taskflow_work.config import WorkSettings

# The schema each test's database starts at (taskflow_chassis.testing.database_at_head).
MIGRATIONS = migrations_dir(work_app.__file__)


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with database_at_head(request.param, tmp_path, MIGRATIONS, "work") as url:
        yield url


@asynccontextmanager
async def migrated_database(url: str) -> AsyncIterator[Database]:
    """Work's schema at head on ``url``, without the app: for tests that seed rows
    themselves and read what the database makes of a statement."""
    database = Database(url)
    try:
        await migrate_to(database, MIGRATIONS, "alembic_version_work", "head")
        yield database
    finally:
        await database.dispose()


@dataclass
class Member:
    user_id: uuid.UUID
    role: str
    headers: dict[str, str]


class World:
    """The work app; teams' events played into it; every event it publishes recorded."""

    def __init__(
        self, app: FastAPI, client: httpx.AsyncClient, bus_url: str, tokens: TestTokens
    ) -> None:
        self.app, self.client, self.tokens = app, client, tokens
        self.bus = MemoryBus(bus_url)
        self.published: list[CloudEvent] = []
        self.role_ids: dict[tuple[uuid.UUID, str], uuid.UUID] = {}

    async def start(self) -> None:
        await self.bus.connect()

        async def record(event: CloudEvent) -> None:
            self.published.append(event)

        await self.bus.subscribe("observer", ["taskflow.work.#"], record)

    async def settle(self) -> None:
        for _ in range(3):
            await self.bus.drain()
            await self.app.state.relay.publish_pending()
        await self.bus.drain()

    async def teams_event(self, payload: EventPayload) -> None:
        await self.bus.publish(
            new_event(payload.event_type, source="/taskflow/teams", data=payload)
        )
        await self.settle()

    def role_id(self, team_id: uuid.UUID, role: str) -> uuid.UUID:
        return self.role_ids.setdefault((team_id, role), uuid.uuid4())

    async def team(self, name: str = "Platform") -> uuid.UUID:
        team_id = uuid.uuid4()
        await self.teams_event(
            teams.TeamCreated(team_id=team_id, name=name, leader_id=uuid.uuid4())
        )
        return team_id

    async def member(self, team_id: uuid.UUID, role: str = "Team Leader") -> Member:
        user_id = uuid.uuid4()
        await self.teams_event(
            teams.MemberJoined(
                team_id=team_id,
                user_id=user_id,
                role_id=self.role_id(team_id, role),
                role_name=role,
                permissions=sorted(BUILT_IN_ROLES[role]),
            )
        )
        return Member(user_id, role, self.tokens.headers(user_id))

    def outsider(self) -> Member:
        user_id = uuid.uuid4()
        return Member(user_id, "outsider", self.tokens.headers(user_id))

    async def project(self, team_id: uuid.UUID, by: Member, **fields: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/projects",
            headers=by.headers,
            json={"team_id": str(team_id), "name": "Launch", **fields},
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def task(self, project_id: str, by: Member, **fields: Any) -> dict[str, Any]:
        body = {"title": "Write the plan", **fields}
        response = await self.client.post(
            f"/api/v1/projects/{project_id}/tasks", headers=by.headers, json=body
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    def of_type(self, event_type: str) -> list[CloudEvent]:
        return [e for e in self.published if e.type == event_type]


def make_settings(database_url: str, bus_url: str, tmp_path: Path) -> WorkSettings:
    return WorkSettings(
        data_dir=tmp_path,
        database_url=database_url,
        event_bus_url=bus_url,
        relay_sweep_seconds=0.2,
        teams_url="http://teams.invalid",
    )


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    bus_url = f"memory://work-test-{uuid.uuid4().hex[:8]}"
    tokens = TestTokens()
    app = create_app(
        make_settings(database_url, bus_url, tmp_path),
        jwks_fetcher=tokens.jwks,
        teams_transport=unreachable_service(),
    )
    async with app_running(app):
        # No teams service here: the replica alone answers (read-through has its own test).
        app.state.authorizer.teams = None
        # No auth either: nothing was revoked before this world began (its events say the rest).
        app.state.revocations.complete = True
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            world = World(app, client, bus_url, tokens)
            await world.start()
            yield world
            await world.bus.close()
