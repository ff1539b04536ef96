"""Deleting a project is a soft delete: it and everything in it answer 404, it comes back
on restore (to whoever could delete it), and after 30 days the scheduled purge erases
it with its tasks, comments and activity, saying so once. An archived project takes no
new task (issue 18)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from taskflow_chassis.types import table_of, utcnow
from taskflow_work.activity.models import Activity
from taskflow_work.comments.models import Comment
from taskflow_work.projects.models import Project
from taskflow_work.projects.scheduled import purge_deleted_projects
from taskflow_work.tasks.models import Task

PROBLEM = "application/problem+json"


async def _filled_project(world: Any) -> tuple[Any, Any, dict[str, Any], dict[str, Any], str]:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    task = await world.task(project["id"], lead)
    comment = await world.client.post(
        f"/api/v1/tasks/{task['id']}/comments", headers=lead.headers, json={"body": "Hi"}
    )
    assert comment.status_code == 201, comment.text
    return team, lead, project, task, comment.json()["id"]


def _reads(project: dict[str, Any], task: dict[str, Any], comment_id: str) -> list[str]:
    return [
        f"/api/v1/projects/{project['id']}",
        f"/api/v1/tasks/{task['id']}",
        f"/api/v1/tasks/{task['id']}/comments",
        f"/api/v1/tasks/{task['id']}/activity",
        f"/api/v1/comments/{comment_id}",
    ]


async def _listed(world: Any, lead: Any, path: str, **params: str) -> list[str]:
    answer = await world.client.get(path, params=params, headers=lead.headers)
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


async def _count(world: Any, model: Any, column: str, value: str) -> int:
    table = table_of(model)
    async with world.app.state.database.session() as session:
        query = select(func.count()).select_from(table).where(table.c[column] == uuid.UUID(value))
        return int((await session.execute(query)).scalar_one())


async def test_delete_hides_everything_and_restore_brings_it_back(world: Any) -> None:
    team, lead, project, task, comment_id = await _filled_project(world)
    before = {
        path: (await world.client.get(path, headers=lead.headers)).json()
        for path in _reads(project, task, comment_id)
    }
    url = f"/api/v1/projects/{project['id']}"
    assert (await world.client.delete(url, headers=lead.headers)).status_code == 204

    for path in _reads(project, task, comment_id):
        answer = await world.client.get(path, headers=lead.headers)
        assert answer.status_code == 404, (path, answer.text)
        assert answer.headers["content-type"].startswith(PROBLEM)
    assert await _listed(world, lead, "/api/v1/projects") == []
    assert await _listed(world, lead, "/api/v1/tasks") == []
    assert await _listed(world, lead, "/api/v1/tasks", team_id=str(team)) == []
    writes = [
        world.client.patch(url, headers=lead.headers, json={"name": "X"}),
        world.client.delete(url, headers=lead.headers),
        world.client.post(f"{url}/tasks", headers=lead.headers, json={"title": "New"}),
        world.client.patch(
            f"/api/v1/tasks/{task['id']}", headers=lead.headers, json={"title": "X"}
        ),
        world.client.delete(f"/api/v1/tasks/{task['id']}", headers=lead.headers),
        world.client.post(
            f"/api/v1/tasks/{task['id']}/comments", headers=lead.headers, json={"body": "x"}
        ),
        world.client.delete(f"/api/v1/comments/{comment_id}", headers=lead.headers),
    ]
    for write in writes:
        answer = await write
        assert answer.status_code == 404, answer.text

    restored = await world.client.post(f"{url}/restore", headers=lead.headers)
    assert restored.status_code == 200, restored.text
    assert restored.json()["id"] == project["id"]
    after = {
        path: (await world.client.get(path, headers=lead.headers)).json()
        for path in _reads(project, task, comment_id)
    }
    assert (
        after[f"/api/v1/tasks/{task['id']}/comments"]
        == before[f"/api/v1/tasks/{task['id']}/comments"]
    )
    assert after[f"/api/v1/tasks/{task['id']}"] == before[f"/api/v1/tasks/{task['id']}"]
    assert after[f"/api/v1/comments/{comment_id}"] == before[f"/api/v1/comments/{comment_id}"]
    assert await _listed(world, lead, "/api/v1/tasks") == [task["id"]]
    assert await _listed(world, lead, "/api/v1/projects") == [project["id"]]
    # A retried restore answers the project as it is.
    assert (await world.client.post(f"{url}/restore", headers=lead.headers)).status_code == 200

    await world.settle()
    [deleted] = world.of_type("taskflow.work.project.deleted.v2")
    assert deleted.data["project_id"] == project["id"]
    assert deleted.data["purge_after"] > deleted.data["deleted_at"]
    assert [e.data["project_id"] for e in world.of_type("taskflow.work.project.restored.v1")] == [
        project["id"]
    ]
    assert world.of_type("taskflow.work.project.deleted.v1") == []
    assert world.of_type("taskflow.work.project.purged.v1") == []


async def test_restore_needs_membership_then_the_permission(world: Any) -> None:
    team, lead, project, _, _ = await _filled_project(world)
    developer = await world.member(team, "Developer")
    url = f"/api/v1/projects/{project['id']}"
    assert (await world.client.delete(url, headers=lead.headers)).status_code == 204
    stranger = await world.client.post(f"{url}/restore", headers=world.outsider().headers)
    assert stranger.status_code == 404
    assert stranger.headers["content-type"].startswith(PROBLEM)
    member = await world.client.post(f"{url}/restore", headers=developer.headers)
    assert member.status_code == 403, member.text
    assert member.headers["content-type"].startswith(PROBLEM)
    nothing = await world.client.post(
        f"/api/v1/projects/{uuid.uuid4()}/restore", headers=lead.headers
    )
    assert nothing.status_code == 404


async def test_purge_after_thirty_days_erases_it_all_once(world: Any) -> None:
    team, lead, project, task, comment_id = await _filled_project(world)
    kept = await world.project(team, lead, name="Kept")
    kept_task = await world.task(kept["id"], lead)
    url = f"/api/v1/projects/{project['id']}"
    assert (await world.client.delete(url, headers=lead.headers)).status_code == 204
    state = world.app.state

    state.clock = lambda: utcnow() + timedelta(days=29, hours=23)
    assert await purge_deleted_projects(state.database, state.publisher, state.clock()) == 0
    assert await _count(world, Project, "id", project["id"]) == 1

    state.clock = lambda: utcnow() + timedelta(days=30, minutes=1)
    assert (await world.client.post(f"{url}/restore", headers=lead.headers)).status_code == 404
    assert await purge_deleted_projects(state.database, state.publisher, state.clock()) == 1
    assert await purge_deleted_projects(state.database, state.publisher, state.clock()) == 0
    assert await _count(world, Project, "id", project["id"]) == 0
    assert await _count(world, Task, "project_id", project["id"]) == 0
    assert await _count(world, Comment, "id", comment_id) == 0
    assert await _count(world, Activity, "task_id", task["id"]) == 0
    assert await _count(world, Task, "id", kept_task["id"]) == 1

    await world.settle()
    assert [e.data["project_id"] for e in world.of_type("taskflow.work.project.purged.v1")] == [
        project["id"]
    ]


async def test_an_archived_project_takes_no_new_task(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    url = f"/api/v1/projects/{project['id']}"
    archived = await world.client.patch(url, headers=lead.headers, json={"archived": True})
    assert archived.status_code == 200
    refused = await world.client.post(f"{url}/tasks", headers=lead.headers, json={"title": "T"})
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM)
    body = refused.json()
    assert body["type"].endswith("project-archived") and body["detail"]
    assert body["errors"][0]["field"] == "project_id"
    assert body["errors"][0]["loc"] == ["path", "project_id"]
    assert body["project_id"] == project["id"]
    assert await _listed(world, lead, "/api/v1/tasks", project_id=project["id"]) == []
    await world.client.patch(url, headers=lead.headers, json={"archived": False})
    assert (
        await world.client.post(f"{url}/tasks", headers=lead.headers, json={"title": "T"})
    ).status_code == 201
