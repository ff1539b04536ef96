"""The order of work's checks, the same as teams': who you are, then what you may do, then
what you sent.

A stranger gets 404 whatever the body; a member whose role lacks the route's permission
gets 403 before the body is looked at (the permission is declared on the route, and
FastAPI runs route dependencies before it validates the body); only a caller allowed to
act hears 422 about the body.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import World

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


async def _setup(world: World) -> tuple[dict[str, Any], dict[str, Any], Any, Any, Any]:
    team = await world.team()
    leader = await world.member(team, "Team Leader")
    viewer = await world.member(team, "Viewer")  # no permission at all
    project = await world.project(team, leader)
    task = await world.task(project["id"], leader)
    return project, task, leader, viewer, world.outsider()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/projects/{project}/tasks", {"title": ""}),
        ("PATCH", "/api/v1/projects/{project}", {"name": 5}),
        ("POST", "/api/v1/tasks/{task}/assignees", {"user_id": "not-a-uuid"}),
        ("POST", "/api/v1/tasks/{task}/comments", {"body": ""}),
    ],
)
async def test_stranger_404_then_member_without_permission_403_then_bad_body_422(
    world: World, method: str, path: str, body: dict[str, Any]
) -> None:
    project, task, leader, viewer, outsider = await _setup(world)
    url = path.format(project=project["id"], task=task["id"])
    # A stranger learns nothing either way.
    stranger = await world.client.request(method, url, headers=outsider.headers, json=body)
    assert stranger.status_code == 404, stranger.text
    response = await world.client.request(method, url, headers=viewer.headers, json=body)
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.json()["type"].endswith("permission-required")
    allowed = await world.client.request(method, url, headers=leader.headers, json=body)
    assert allowed.status_code == 422, (allowed.status_code, allowed.text)
