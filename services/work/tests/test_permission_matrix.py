"""Every route, every built-in role and a non-member: exact statuses; refused writes change nothing.

Each case meets a team as built, with one member per built-in role, a project, a
task in review assigned to a spare member, and a comment by another member: a new
one after a write changed it (taskflow_chassis.testing.permission_matrix), so an
allowed write in one case cannot mask a refused one in another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from taskflow_chassis.testing import permission_matrix, rows_snapshot
from taskflow_work.activity.models import Activity
from taskflow_work.comments.models import Comment
from taskflow_work.projects.models import Project
from taskflow_work.tasks.models import Task, TaskAssignee

ROLES = ["Team Leader", "Project Manager", "Developer", "Reviewer", "Viewer", "outsider"]
EVERYONE = set(ROLES) - {"outsider"}
MANAGERS = {"Team Leader", "Project Manager"}
MAKERS = MANAGERS | {"Developer"}
REVIEWERS = MANAGERS | {"Reviewer"}
COMMENTERS = MANAGERS | {"Developer", "Reviewer"}
NOBODY: set[str] = set()


@dataclass
class Setup:
    team_id: str
    project_id: str
    task_id: str
    comment_id: str
    target_id: str


Request = Callable[[Setup], tuple[str, str, Any]]

ROUTES: list[tuple[str, Request, set[str], int]] = [
    (
        "create project",
        lambda s: ("POST", "/api/v1/projects", {"team_id": s.team_id, "name": "New"}),
        MANAGERS,
        201,
    ),
    (
        "list projects of a team",
        lambda s: ("GET", f"/api/v1/projects?team_id={s.team_id}", None),
        EVERYONE,
        200,
    ),
    ("read project", lambda s: ("GET", f"/api/v1/projects/{s.project_id}", None), EVERYONE, 200),
    (
        "edit project",
        lambda s: ("PATCH", f"/api/v1/projects/{s.project_id}", {"archived": True}),
        MANAGERS,
        200,
    ),
    (
        "delete project",
        lambda s: ("DELETE", f"/api/v1/projects/{s.project_id}", None),
        MANAGERS,
        204,
    ),
    (
        "create task",
        lambda s: ("POST", f"/api/v1/projects/{s.project_id}/tasks", {"title": "T"}),
        MAKERS,
        201,
    ),
    (
        "list tasks of a project",
        lambda s: ("GET", f"/api/v1/tasks?project_id={s.project_id}", None),
        EVERYONE,
        200,
    ),
    (
        "list tasks of a team",
        lambda s: ("GET", f"/api/v1/tasks?team_id={s.team_id}", None),
        EVERYONE,
        200,
    ),
    ("read task", lambda s: ("GET", f"/api/v1/tasks/{s.task_id}", None), EVERYONE, 200),
    (
        "edit task",
        lambda s: ("PATCH", f"/api/v1/tasks/{s.task_id}", {"title": "Edited"}),
        MAKERS,
        200,
    ),
    (
        "move task to done",
        lambda s: ("PATCH", f"/api/v1/tasks/{s.task_id}", {"status": "done"}),
        REVIEWERS,
        200,
    ),
    ("delete task", lambda s: ("DELETE", f"/api/v1/tasks/{s.task_id}", None), MANAGERS, 204),
    (
        "assign",
        lambda s: ("POST", f"/api/v1/tasks/{s.task_id}/assignees", {"user_id": s.target_id}),
        MANAGERS,
        200,
    ),
    (
        "unassign",
        lambda s: ("DELETE", f"/api/v1/tasks/{s.task_id}/assignees/{s.target_id}", None),
        MANAGERS,
        204,
    ),
    (
        "list comments",
        lambda s: ("GET", f"/api/v1/tasks/{s.task_id}/comments", None),
        EVERYONE,
        200,
    ),
    (
        "comment",
        lambda s: ("POST", f"/api/v1/tasks/{s.task_id}/comments", {"body": "Hi"}),
        COMMENTERS,
        201,
    ),
    (
        "edit someone's comment",
        lambda s: ("PATCH", f"/api/v1/comments/{s.comment_id}", {"body": "x"}),
        NOBODY,
        200,
    ),
    (
        "delete someone's comment",
        lambda s: ("DELETE", f"/api/v1/comments/{s.comment_id}", None),
        MANAGERS,
        204,
    ),
    (
        "read activity",
        lambda s: ("GET", f"/api/v1/tasks/{s.task_id}/activity", None),
        EVERYONE,
        200,
    ),
]


async def snapshot(world: Any) -> dict[str, list[str]]:
    await world.settle()
    tables = (Project, Task, TaskAssignee, Comment, Activity)
    return await rows_snapshot(world.app.state.database, *tables)


async def build(world: Any) -> tuple[Setup, dict[str, Any]]:
    team = await world.team()
    people = {role: await world.member(team, role) for role in ROLES[:-1]}
    people["outsider"] = world.outsider()
    target = await world.member(team, "Developer")
    author = await world.member(team, "Developer")
    project = await world.project(team, people["Team Leader"])
    task = await world.task(
        project["id"], people["Team Leader"], status="in_review", assignee_ids=[str(target.user_id)]
    )
    comment = await world.client.post(
        f"/api/v1/tasks/{task['id']}/comments", headers=author.headers, json={"body": "c"}
    )
    await world.settle()
    return Setup(
        str(team), project["id"], task["id"], comment.json()["id"], str(target.user_id)
    ), people


@pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
async def test_permission_matrix(world: Any, route: tuple[str, Request, set[str], int]) -> None:
    name, make_request, allowed, success = route

    async def prepare() -> tuple[Any, Any]:
        setup, people = await build(world)
        method, path, body = make_request(setup)
        if name == "assign":  # assigning needs the target unassigned first
            lead = people["Team Leader"].headers
            await world.client.delete(
                f"/api/v1/tasks/{setup.task_id}/assignees/{setup.target_id}", headers=lead
            )

        async def send_as(role: str) -> Any:
            return await world.client.request(method, path, headers=people[role].headers, json=body)

        return send_as, lambda: snapshot(world)

    failures = await permission_matrix(ROLES, allowed, success, prepare)
    assert not failures, f"{name}:\n" + "\n".join(failures)


async def test_ids_in_bodies_and_queries_are_checked(world: Any) -> None:
    """A team or project id in a body or query string is as guarded as one in a path."""
    mine, theirs = await world.team(), await world.team()
    me, them = await world.member(mine), await world.member(theirs)
    their_project = await world.project(theirs, them)
    their_task = await world.task(their_project["id"], them)
    cases = [
        ("POST", "/api/v1/projects", {"team_id": str(theirs), "name": "Sneak"}),
        ("GET", f"/api/v1/projects?team_id={theirs}", None),
        ("GET", f"/api/v1/tasks?team_id={theirs}", None),
        ("GET", f"/api/v1/tasks?project_id={their_project['id']}", None),
        ("POST", f"/api/v1/projects/{their_project['id']}/tasks", {"title": "Sneak"}),
        ("GET", f"/api/v1/tasks/{their_task['id']}/comments", None),
    ]
    for method, path, body in cases:
        response = await world.client.request(method, path, headers=me.headers, json=body)
        assert response.status_code == 404, (method, path, response.text)
