"""Every error work documents that a test can provoke: type, title, status and detail each
time; a 422 names its fields in errors[]."""

from __future__ import annotations

import uuid
from typing import Any

from taskflow_chassis.testing import check_method_refused, check_no_route, check_problem


async def test_work_errors_have_one_shape(world: Any) -> None:
    client = world.client
    team = await world.team()
    lead = await world.member(team)
    viewer = await world.member(team, "Viewer")
    project = await world.project(team, lead)
    task = await world.task(project["id"], lead)
    check_problem(await client.get("/api/v1/projects"), 401)
    check_problem(await client.get(f"/api/v1/tasks/{uuid.uuid4()}", headers=lead.headers), 404)
    check_problem(
        await client.get(f"/api/v1/tasks/{task['id']}", headers=world.outsider().headers), 404
    )
    check_problem(await client.delete(f"/api/v1/tasks/{task['id']}", headers=viewer.headers), 403)
    check_problem(await client.get("/api/v1/tasks/not-a-uuid", headers=lead.headers), 422)
    check_problem(
        await client.patch(f"/api/v1/tasks/{task['id']}", headers=lead.headers, json={"x": 1}),
        422,
    )
    check_problem(
        await client.get(
            f"/api/v1/tasks/{task['id']}/comments?cursor=garbage", headers=lead.headers
        ),
        400,
    )


async def test_unknown_paths_and_methods(world: Any) -> None:
    team = await world.team()
    lead = await world.member(team)
    await check_no_route(world.client, "/api/v1/tasks/x/nothing", lead.headers)
    comment = f"/api/v1/comments/{uuid.uuid4()}"
    allowed = ["DELETE", "GET", "PATCH"]
    await check_method_refused(world.client, "PUT", comment, allowed, lead.headers)
