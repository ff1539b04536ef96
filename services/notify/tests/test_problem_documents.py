"""Every error notify documents that a test can provoke: type, title, status and detail
each time; a 422 names its fields in errors[]."""

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


async def test_notify_errors_have_one_shape(world: Any) -> None:
    client = world.client
    dev = await world.person("dev")
    headers = dev["headers"]
    check(await client.get("/api/v1/notifications"), 401)
    check(await client.get("/api/v1/notifications?cursor=garbage", headers=headers), 400)
    check(await client.post(f"/api/v1/notifications/{uuid.uuid4()}/read", headers=headers), 404)
    check(await client.post("/api/v1/notifications/not-a-uuid/read", headers=headers), 422)
    check(await client.put("/api/v1/notifications/preferences", headers=headers, json={}), 422)
    check(
        await client.patch("/api/v1/notifications/preferences", headers=headers, json={"x": 1}),
        422,
    )


async def test_unknown_paths_and_methods(world: Any) -> None:
    dev = await world.person("dev")
    missing = check(
        await world.client.get("/api/v1/notifications/a/b", headers=dev["headers"]), 404
    )
    assert missing["detail"] == "No route for /api/v1/notifications/a/b."
    url = "/api/v1/notifications/preferences"
    method = check(await world.client.delete(url, headers=dev["headers"]), 405)
    assert method["detail"] == f"DELETE is not allowed on {url}. Allowed: GET, PATCH, PUT."
