"""Every error work documents that a test can provoke: type, title, status and detail each
time; a 422 names its fields in errors[]."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

PROBLEM = "application/problem+json"


def check(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body.get(member), str) and body[member], (member, body)
    if status in {409, 422}:
        assert body["errors"], body
        for error in body["errors"]:
            assert set(error) == {"loc", "field", "type", "msg"} and error["field"], body
    return body


async def test_work_errors_have_one_shape(world: Any) -> None:
    client = world.client
    team = await world.team()
    lead = await world.member(team)
    viewer = await world.member(team, "Viewer")
    project = await world.project(team, lead)
    task = await world.task(project["id"], lead)
    check(await client.get("/api/v1/projects"), 401)
    check(await client.get(f"/api/v1/tasks/{uuid.uuid4()}", headers=lead.headers), 404)
    check(await client.get(f"/api/v1/tasks/{task['id']}", headers=world.outsider().headers), 404)
    check(await client.delete(f"/api/v1/tasks/{task['id']}", headers=viewer.headers), 403)
    check(await client.get("/api/v1/tasks/not-a-uuid", headers=lead.headers), 422)
    check(
        await client.patch(f"/api/v1/tasks/{task['id']}", headers=lead.headers, json={"x": 1}),
        422,
    )
    check(
        await client.get(
            f"/api/v1/tasks/{task['id']}/comments?cursor=garbage", headers=lead.headers
        ),
        400,
    )


async def test_unknown_paths_and_methods(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    missing = check(await world.client.get("/api/v1/tasks/x/nothing", headers=lead.headers), 404)
    assert missing["detail"] == "No route for /api/v1/tasks/x/nothing."
    comment = f"/api/v1/comments/{uuid.uuid4()}"
    method = check(await world.client.put(comment, headers=lead.headers), 405)
    assert method["detail"] == f"PUT is not allowed on {comment}. Allowed: DELETE, GET, PATCH."
