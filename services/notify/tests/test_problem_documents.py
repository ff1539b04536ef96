"""Every error notify documents that a test can provoke: type, title, status and detail
each time; a 422 names its fields in errors[]."""

from __future__ import annotations

import uuid
from typing import Any

from taskflow_chassis.testing import check_method_refused, check_no_route, check_problem


async def test_notify_errors_have_one_shape(world: Any) -> None:
    client = world.client
    dev = await world.person("dev")
    headers = dev["headers"]
    check_problem(await client.get("/api/v1/notifications"), 401)
    check_problem(await client.get("/api/v1/notifications?cursor=garbage", headers=headers), 400)
    check_problem(
        await client.post(f"/api/v1/notifications/{uuid.uuid4()}/read", headers=headers), 404
    )
    check_problem(await client.post("/api/v1/notifications/not-a-uuid/read", headers=headers), 422)
    check_problem(
        await client.put("/api/v1/notifications/preferences", headers=headers, json={}), 422
    )
    check_problem(
        await client.patch("/api/v1/notifications/preferences", headers=headers, json={"x": 1}),
        422,
    )


async def test_unknown_paths_and_methods(world: Any) -> None:
    headers = (await world.person("dev"))["headers"]
    await check_no_route(world.client, "/api/v1/notifications/a/b", headers)
    url = "/api/v1/notifications/preferences"
    await check_method_refused(world.client, "DELETE", url, ["GET", "PATCH", "PUT"], headers)
