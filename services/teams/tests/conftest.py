"""Teams service fixtures: the app in-process on SQLite and PostgreSQL, fed auth's events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.testing import (
    TestTokens,
    app_running,
    database_at_head,
)
from taskflow_chassis.types import utcnow
from taskflow_contracts import auth
from taskflow_contracts.base import EventPayload
from taskflow_teams import app as teams_app
from taskflow_teams.app import create_app
from taskflow_teams.config import TeamsSettings

# The schema each test's database starts at (taskflow_chassis.testing.database_at_head).
MIGRATIONS = migrations_dir(teams_app.__file__)


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with database_at_head(request.param, tmp_path, MIGRATIONS, "teams") as url:
        yield url


@dataclass
class Person:
    user_id: uuid.UUID
    username: str
    email: str
    headers: dict[str, str]


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return utcnow() + self.offset


class World:
    """The teams app, auth's events played into it, and every event it publishes."""

    def __init__(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        bus_url: str,
        tokens: TestTokens,
        clock: Clock,
    ) -> None:
        self.app, self.client, self.tokens, self.clock = app, client, tokens, clock
        self.bus = MemoryBus(bus_url)
        self.published: list[CloudEvent] = []

    async def start(self) -> None:
        await self.bus.connect()

        async def record(event: CloudEvent) -> None:
            self.published.append(event)

        await self.bus.subscribe("observer", ["taskflow.teams.#"], record)

    async def settle(self) -> None:
        """Deliver everything: auth events to teams, teams' outbox to the observer."""
        for _ in range(3):
            await self.bus.drain()
            await self.app.state.relay.publish_pending()
        await self.bus.drain()

    async def auth_event(self, payload: EventPayload) -> CloudEvent:
        event = new_event(payload.event_type, source="/taskflow/auth", data=payload)
        await self.bus.publish(event)
        await self.settle()
        return event

    async def person(
        self,
        name: str | None = None,
        *,
        participant: bool = True,
        email: str | None = None,
        verified: bool = True,
    ) -> Person:
        """Signed up (and, unless told otherwise, with the sign-up's email link followed)."""
        name = name or f"user{uuid.uuid4().hex[:6]}"
        user_id = uuid.uuid4()
        email = email or f"{name}@example.com"
        await self.auth_event(
            auth.UserRegistered(user_id=user_id, username=name, email=email, email_verified=False)
        )
        if verified:
            await self.verify_email(user_id, name, email)
        if participant:
            await self.auth_event(
                auth.ParticipantRegistered(
                    user_id=user_id,
                    username=name,
                    email=email,
                    display_name=name.title(),
                    phone_number="+14155552671",
                )
            )
        return Person(user_id, name, email, self.tokens.headers(user_id))

    async def verify_email(self, user_id: uuid.UUID, username: str, email: str) -> None:
        await self.auth_event(
            auth.UserUpdated(user_id=user_id, username=username, email=email, email_verified=True)
        )

    def of_type(self, event_type: str) -> list[CloudEvent]:
        return [e for e in self.published if e.type == event_type]

    async def team(self, leader: Person, name: str = "Platform") -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/teams", headers=leader.headers, json={"name": name}
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def roles(self, team_id: str, headers: dict[str, str]) -> dict[str, str]:
        response = await self.client.get(f"/api/v1/teams/{team_id}/roles", headers=headers)
        assert response.status_code == 200, response.text
        return {role["name"]: role["id"] for role in response.json()["items"]}

    async def invite(
        self, team_id: str, inviter: Person, email: str, role_id: str
    ) -> tuple[dict[str, Any], str]:
        response = await self.client.post(
            f"/api/v1/teams/{team_id}/invitations",
            headers=inviter.headers,
            json={"email": email, "role_id": role_id},
        )
        assert response.status_code == 201, response.text
        invitation = dict(response.json())
        return invitation, await self.token_for(invitation["id"])

    async def token_for(self, invitation_id: str) -> str:
        await self.settle()
        sent = [
            e
            for e in self.published
            if e.type
            in {"taskflow.teams.invitation.created.v1", "taskflow.teams.invitation.resent.v1"}
            and e.data["invitation_id"] == invitation_id
        ]
        url = sent[-1].data["accept_url"]
        return str(parse_qs(urlsplit(url).query)["token"][0])

    async def join(
        self, team_id: str, leader: Person, role_name: str, name: str | None = None
    ) -> Person:
        roles = await self.roles(team_id, leader.headers)
        person = await self.person(name)
        _, token = await self.invite(team_id, leader, person.email, roles[role_name])
        accepted = await self.client.post(
            "/api/v1/invitations/accept", headers=person.headers, json={"token": token}
        )
        assert accepted.status_code == 200, accepted.text
        return person


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    bus_url = f"memory://teams-test-{uuid.uuid4().hex[:8]}"
    settings = TeamsSettings(
        data_dir=tmp_path,
        database_url=database_url,
        event_bus_url=bus_url,
        public_url="https://taskflow.example",
        relay_sweep_seconds=0.2,
    )
    tokens = TestTokens()
    app = create_app(settings, jwks_fetcher=tokens.jwks)
    clock = Clock()
    app.state.clock = clock
    async with app_running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            world = World(app, client, bus_url, tokens, clock)
            await world.start()
            yield world
            await world.bus.close()
