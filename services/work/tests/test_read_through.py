"""Membership read-through: the real teams app answers when work's replica does not know yet.

Teams and work run in-process on separate buses, so no teams event reaches work
unless the test forwards it: exactly the moment between joining a team and the
event's delivery.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.testing import TestTokens, app_running
from taskflow_contracts import auth
from taskflow_teams.app import create_app as create_teams_app
from taskflow_teams.config import TeamsSettings
from taskflow_work.app import create_app as create_work_app
from taskflow_work.replica.models import MemberReplica

from .conftest import make_settings


class Stack:
    def __init__(
        self, teams: Any, work: Any, tokens: TestTokens, teams_bus_url: str, work_bus_url: str
    ) -> None:
        self.teams_app, self.work_app, self.tokens = teams, work, tokens
        self.teams_bus = MemoryBus(teams_bus_url)
        self.work_bus = MemoryBus(work_bus_url)
        self.teams_events: list[CloudEvent] = []

    async def start(self) -> None:
        for bus in (self.teams_bus, self.work_bus):
            await bus.connect()

        async def record(event: CloudEvent) -> None:
            self.teams_events.append(event)

        await self.teams_bus.subscribe("held-back", ["taskflow.teams.#"], record)

    async def settle(self) -> None:
        for _ in range(3):
            await self.teams_bus.drain()
            await self.teams_app.state.relay.publish_pending()
            await self.work_bus.drain()
            await self.work_app.state.relay.publish_pending()

    async def person(self, name: str) -> dict[str, str]:
        user_id = uuid.uuid4()
        for payload in (
            auth.UserRegistered(
                user_id=user_id, username=name, email=f"{name}@example.com", email_verified=True
            ),
            auth.ParticipantRegistered(
                user_id=user_id,
                username=name,
                email=f"{name}@example.com",
                display_name=None,
                phone_number="+14155552671",
            ),
        ):
            await self.teams_bus.publish(
                new_event(payload.event_type, source="/taskflow/auth", data=payload)
            )
        await self.settle()
        return {"id": str(user_id), "email": f"{name}@example.com", **self.tokens.headers(user_id)}

    async def forward(self, event_type: str) -> None:
        """Deliver held-back teams events of one type to work, as the broker eventually would."""
        await self.settle()
        for event in [e for e in self.teams_events if e.type == event_type]:
            await self.work_bus.publish(event)
        await self.settle()


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    tokens = TestTokens()
    suffix = uuid.uuid4().hex[:8]
    teams_bus, work_bus = f"memory://rt-teams-{suffix}", f"memory://rt-work-{suffix}"
    teams_app = create_teams_app(
        TeamsSettings(
            data_dir=tmp_path,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'teams.db'}",
            event_bus_url=teams_bus,
        ),
        jwks_fetcher=tokens.jwks,
    )
    work_app = create_work_app(
        make_settings(f"sqlite+aiosqlite:///{tmp_path / 'work.db'}", work_bus, tmp_path),
        jwks_fetcher=tokens.jwks,
        teams_transport=httpx.ASGITransport(app=teams_app),
    )
    async with app_running(teams_app), app_running(work_app):
        for app in (teams_app, work_app):  # no auth: nothing was revoked before the stack began
            app.state.revocations.complete = True
        stack = Stack(teams_app, work_app, tokens, teams_bus, work_bus)
        await stack.start()
        yield stack


def headers(person: dict[str, str]) -> dict[str, str]:
    return {"Authorization": person["Authorization"]}


async def test_new_member_acts_at_once_then_loses_access_on_removal(stack: Stack) -> None:
    teams = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.teams_app), base_url="http://teams"
    )
    work = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.work_app), base_url="http://work"
    )
    async with teams, work:
        lead = await stack.person("lead")
        dev = await stack.person("dev")
        team = (
            await teams.post("/api/v1/teams", headers=headers(lead), json={"name": "Core"})
        ).json()
        roles = {
            r["name"]: r["id"]
            for r in (
                await teams.get(f"/api/v1/teams/{team['id']}/roles", headers=headers(lead))
            ).json()["items"]
        }
        # No teams event has reached work: the leader's first write reads through.
        project = await work.post(
            "/api/v1/projects", headers=headers(lead), json={"team_id": team["id"], "name": "P"}
        )
        assert project.status_code == 201, project.text
        await teams.post(
            f"/api/v1/teams/{team['id']}/invitations",
            headers=headers(lead),
            json={"email": dev["email"], "role_id": roles["Developer"]},
        )
        await stack.settle()
        invitation = [
            e for e in stack.teams_events if e.type == "taskflow.teams.invitation.created.v1"
        ][-1]
        token = invitation.data["accept_url"].split("token=")[1]
        assert (
            await teams.post(
                "/api/v1/invitations/accept", headers=headers(dev), json={"token": token}
            )
        ).status_code == 200
        # Joined a moment ago, event not delivered: the developer can already create a task.
        task = await work.post(
            f"/api/v1/projects/{project.json()['id']}/tasks",
            headers=headers(dev),
            json={"title": "Mine"},
        )
        assert task.status_code == 201, task.text
        # ...and list it: their replica row is a read-through answer, so the page takes the
        # full membership check rather than the join on rows from teams' events.
        listed = await work.get(
            "/api/v1/tasks", params={"project_id": project.json()["id"]}, headers=headers(dev)
        )
        assert listed.status_code == 200, listed.text
        assert [t["id"] for t in listed.json()["items"]] == [task.json()["id"]]
        # ...but not delete the project: the read-through carries the Developer's permissions.
        assert (
            await work.delete(f"/api/v1/projects/{project.json()['id']}", headers=headers(dev))
        ).status_code == 403
        async with stack.work_app.state.database.session() as session:
            cached = (
                await session.execute(
                    select(MemberReplica).where(col(MemberReplica.user_id) == uuid.UUID(dev["id"]))
                )
            ).scalar_one()
            assert cached.from_event is False and cached.role_name == "Developer"
        # The joined events arrive; then the removal.
        await stack.forward("taskflow.teams.member.joined.v1")
        async with stack.work_app.state.database.session() as session:
            row = (
                await session.execute(
                    select(MemberReplica).where(col(MemberReplica.user_id) == uuid.UUID(dev["id"]))
                )
            ).scalar_one()
            assert row.from_event is True
        removed = await teams.delete(
            f"/api/v1/teams/{team['id']}/members/{dev['id']}", headers=headers(lead)
        )
        assert removed.status_code == 204
        task_url = f"/api/v1/tasks/{task.json()['id']}"
        await stack.forward("taskflow.teams.member.removed.v1")
        assert (await work.get(task_url, headers=headers(dev))).status_code == 404
        assert (await work.get(task_url, headers=headers(lead))).status_code == 200


async def test_outsider_is_not_cached_and_teams_outage_is_503(stack: Stack) -> None:
    work = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.work_app), base_url="http://work"
    )
    async with work:
        stranger = await stack.person("stranger")
        missing_team = str(uuid.uuid4())
        response = await work.post(
            "/api/v1/projects",
            headers=headers(stranger),
            json={"team_id": missing_team, "name": "P"},
        )
        assert response.status_code == 404
        async with stack.work_app.state.database.session() as session:
            assert (await session.execute(select(MemberReplica))).all() == []

        class Down(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                raise httpx.ConnectError("teams is down")

        stack.work_app.state.authorizer.teams = httpx.AsyncClient(
            transport=Down(), base_url="http://teams"
        )
        down = await work.post(
            "/api/v1/projects",
            headers=headers(stranger),
            json={"team_id": missing_team, "name": "P"},
        )
        assert (
            down.status_code == 503 and down.headers["content-type"] == "application/problem+json"
        )


async def test_stale_read_through_answer_is_checked_again(stack: Stack) -> None:
    """Had the removal event come before the cached answer, the cache must not outlive it."""
    teams = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.teams_app), base_url="http://teams"
    )
    work = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.work_app), base_url="http://work"
    )
    async with teams, work:
        lead = await stack.person("lead")
        team = (
            await teams.post("/api/v1/teams", headers=headers(lead), json={"name": "Core"})
        ).json()
        project = await work.post(
            "/api/v1/projects", headers=headers(lead), json={"team_id": team["id"], "name": "P"}
        )
        assert project.status_code == 201
        # The team is deleted in teams; work never hears of it (the event is lost to this test).
        assert (
            await teams.delete(f"/api/v1/teams/{team['id']}", headers=headers(lead))
        ).status_code == 204
        url = f"/api/v1/projects/{project.json()['id']}"
        assert (
            await work.get(url, headers=headers(lead))
        ).status_code == 200  # cached answer, still fresh
        stack.work_app.state.authorizer.cache_seconds = 0
        assert (await work.get(url, headers=headers(lead))).status_code == 404
        async with stack.work_app.state.database.session() as session:
            assert (await session.execute(select(MemberReplica))).all() == []


async def test_a_narrow_api_tokens_answer_never_narrows_the_members_session(stack: Stack) -> None:
    """Teams answers a token's members/me with the token's share of the role; work must
    not keep that as the member's permissions (the leader's session would get 403)."""
    teams = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.teams_app), base_url="http://teams"
    )
    work = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.work_app), base_url="http://work"
    )
    async with teams, work:
        lead = await stack.person("lead")
        team = (
            await teams.post("/api/v1/teams", headers=headers(lead), json={"name": "Core"})
        ).json()
        token = stack.tokens.access_token(uuid.UUID(lead["id"]), type="api", scp=["projects.read"])
        narrow = {"Authorization": f"Bearer tfp_{token}"}
        listed = await work.get("/api/v1/projects", params={"team_id": team["id"]}, headers=narrow)
        assert listed.status_code == 200
        created = await work.post(
            "/api/v1/projects", headers=headers(lead), json={"team_id": team["id"], "name": "P"}
        )
        assert created.status_code == 201, created.text
        refused = await work.post(
            "/api/v1/projects", headers=narrow, json={"team_id": team["id"], "name": "Q"}
        )
        assert refused.status_code == 403
        assert refused.json()["type"] == "/problems/insufficient-scope"
