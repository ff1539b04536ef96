"""A team deleted in teams (softly) hides its projects and tasks in work at once, brings
them back on restore, and only its purge erases them (issue 18). Teams and work run
in-process; the test forwards teams' events to work, as the broker would."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select
from taskflow_chassis.types import table_of, utcnow
from taskflow_teams.teams.scheduled import purge_deleted_teams
from taskflow_work.projects.models import Project
from taskflow_work.tasks.models import Task

from . import test_read_through
from .test_read_through import Stack, headers

stack = test_read_through.stack  # the fixture: teams and work in-process

KEY = "s3rvice-key"
EVENTS = (
    "taskflow.teams.team.created.v1",
    "taskflow.teams.member.joined.v1",
    "taskflow.teams.team.deleted.v2",
    "taskflow.teams.team.restored.v1",
    "taskflow.teams.team.purged.v1",
)


async def _forward_all(stack: Stack) -> None:
    for event_type in EVENTS:
        await stack.forward(event_type)


async def _rows(stack: Stack, model: Any, project_id: str) -> int:
    table = table_of(model)
    column = table.c.id if model is Project else table.c.project_id
    async with stack.work_app.state.database.session() as session:
        query = select(func.count()).select_from(table).where(column == uuid.UUID(project_id))
        return int((await session.execute(query)).scalar_one())


async def test_team_deleted_restored_purged_as_work_sees_it(stack: Stack) -> None:
    teams = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.teams_app), base_url="http://teams"
    )
    work = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=stack.work_app), base_url="http://work"
    )
    work_events: list[Any] = []

    async def record(event: Any) -> None:
        work_events.append(event)

    await stack.work_bus.subscribe("observer", ["taskflow.work.#"], record)
    # Work's reconciler may ask teams' internal API.
    stack.teams_app.state.settings.internal_api_key = SecretStr(KEY)
    reconciler = stack.work_app.state.reconciler
    reconciler.sync.teams.key = SecretStr(KEY)
    async with teams, work:
        lead = await stack.person("lead")
        team = (
            await teams.post("/api/v1/teams", headers=headers(lead), json={"name": "Core"})
        ).json()
        await _forward_all(stack)
        project = (
            await work.post(
                "/api/v1/projects", headers=headers(lead), json={"team_id": team["id"], "name": "P"}
            )
        ).json()
        task = (
            await work.post(
                f"/api/v1/projects/{project['id']}/tasks",
                headers=headers(lead),
                json={"title": "T"},
            )
        ).json()
        urls = [f"/api/v1/projects/{project['id']}", f"/api/v1/tasks/{task['id']}"]

        team_url = f"/api/v1/teams/{team['id']}"
        assert (await teams.delete(team_url, headers=headers(lead))).status_code == 204
        await _forward_all(stack)
        for url in urls:
            assert (await work.get(url, headers=headers(lead))).status_code == 404, url
        listed = await work.get("/api/v1/tasks", headers=headers(lead))
        assert listed.status_code == 200 and listed.json()["items"] == []
        assert await _rows(stack, Project, project["id"]) == 1  # hidden, not erased
        # A full pass of the reconciler changes nothing: a deleted team is no one's.
        await reconciler.reconcile()
        for url in urls:
            assert (await work.get(url, headers=headers(lead))).status_code == 404, url

        restored = await teams.post(f"{team_url}/restore", headers=headers(lead))
        assert restored.status_code == 200, restored.text
        await _forward_all(stack)
        # Restored: the members are read again from teams (at once: each access reads
        # through until the reconciler, woken by the event, has resynced the team).
        for url in urls:
            assert (await work.get(url, headers=headers(lead))).status_code == 200, url
        await reconciler.resync_marked()
        listed = await work.get("/api/v1/tasks", headers=headers(lead))
        assert [t["id"] for t in listed.json()["items"]] == [task["id"]]

        assert (await teams.delete(team_url, headers=headers(lead))).status_code == 204
        state = stack.teams_app.state
        purged = await purge_deleted_teams(
            state.database, state.publisher, utcnow() + timedelta(days=31)
        )
        assert purged == 1
        await _forward_all(stack)
        assert await _rows(stack, Project, project["id"]) == 0
        assert await _rows(stack, Task, project["id"]) == 0
        await stack.settle()
        await stack.work_bus.drain()
        assert [
            e.data["project_id"] for e in work_events if e.type == "taskflow.work.project.purged.v1"
        ] == [project["id"]]
