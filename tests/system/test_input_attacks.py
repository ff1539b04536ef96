"""Issue 16's bad-input attacks (findings 4 and 7) again, through the gateway of the
distributed runtime on PostgreSQL: each now a 4xx problem document, none a 500."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
from taskflow_chassis.pagination import list_scope

from .conftest import SHARED_STACK_TESTS, System, shared_stack, team_with_member

pytestmark = SHARED_STACK_TESTS
system = shared_stack()
PROBLEM = "application/problem+json"


def forged(*values: Any) -> str:
    raw = json.dumps(list(values)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def refused(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.request.url, response.text[:300])
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    return body


def nested(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


async def test_every_bad_input_of_the_attack_is_a_4xx_problem(system: System) -> None:
    client = system.client
    world = await team_with_member(system, "edgelead", "edgedev")
    lead, dev, team, task = world["lead"], world["dev"], world["team"], world["task"]

    # Finding 4: metadata 300 deep is refused, and every member's list still answers.
    project = (await client.get("/api/v1/projects", headers=lead)).json()["items"][0]
    deep = {"team_id": team["id"], "name": "Deep", "metadata": nested(300)}
    refused(await client.post("/api/v1/projects", headers=lead, json=deep), 422)
    refused(
        await client.patch(
            f"/api/v1/projects/{project['id']}", headers=lead, json={"metadata": nested(300)}
        ),
        422,
    )
    for member in (lead, dev):
        assert (await client.get("/api/v1/projects", headers=member)).status_code == 200

    # Finding 7: a cursor whose key has the wrong type, on every list.
    lists: list[tuple[str, dict[str, str]]] = [
        ("/api/v1/projects", {}),
        *[("/api/v1/tasks", {"sort": sort}) for sort in ("due_at", "-due_at", "priority")],
        ("/api/v1/tasks", {"sort": "-priority"}),
        ("/api/v1/tasks", {"sort": "created_at"}),
        ("/api/v1/tasks", {}),
        (f"/api/v1/tasks/{task['id']}/comments", {}),
        (f"/api/v1/tasks/{task['id']}/activity", {}),
        ("/api/v1/notifications", {}),
        ("/api/v1/teams", {}),
        (f"/api/v1/teams/{team['id']}/members", {}),
        (f"/api/v1/teams/{team['id']}/roles", {}),
        (f"/api/v1/teams/{team['id']}/invitations", {}),
        ("/api/v1/invitations", {}),
    ]
    wrong_keys: list[list[Any]] = [
        [{"t": "not a time"}, "00000000-0000-0000-0000-000000000000"],
        [{"t": "0001-01-01T00:00:00+05:00"}, "00000000-0000-0000-0000-000000000000"],
        ["text", "00000000-0000-0000-0000-000000000000"],
        [2**40, "00000000-0000-0000-0000-000000000000"],
        [[1], {"x": 1}],
        [None, "not-a-uuid"],
    ]
    for path, params in lists:
        scope = list_scope(path, list(params.items()))
        for key in wrong_keys:
            for cursor in (forged(scope, *key), forged(*key)):
                response = await client.get(path, headers=lead, params={**params, "cursor": cursor})
                assert refused(response, 400)["type"].endswith("invalid-cursor")

    # NUL in names, titles, comments, usernames and ?q=.
    nul = "a\u0000b"
    attempts = [
        ("POST", "/api/v1/teams", {"name": nul}),
        ("POST", "/api/v1/projects", {"team_id": team["id"], "name": nul}),
        ("POST", f"/api/v1/projects/{project['id']}/tasks", {"title": nul}),
        ("POST", f"/api/v1/tasks/{task['id']}/comments", {"body": nul}),
        ("PATCH", f"/api/v1/tasks/{task['id']}", {"title": nul}),
    ]
    for method, path, body in attempts:
        refused(await client.request(method, path, headers=lead, json=body), 422)
    sign_up = {"username": nul, "email": "nul@example.com", "password": "correct-horse-battery"}
    refused(await client.post("/api/v1/auth/users", json=sign_up), 422)
    log_in = {"username": nul, "password": "x"}
    refused(await client.post("/api/v1/auth/jwt/create", json=log_in), 422)
    searched = await client.get("/api/v1/tasks", headers=lead, params={"q": nul})
    assert refused(searched, 422)["errors"][0]["loc"] == ["query", "q"]

    # Year 1 and year 9999 instants with an offset.
    for instant in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"):
        refused(
            await client.patch(
                f"/api/v1/tasks/{task['id']}", headers=lead, json={"due_at": instant}
            ),
            422,
        )
        refused(
            await client.get("/api/v1/tasks", headers=lead, params={"due_before": instant}), 422
        )

    # A 1 MiB query string (longer than httpx sends) straight at a service's uvicorn: a
    # problem document, not plain text.
    service = httpx.URL(system.stack.url("work"))
    reader, writer = await asyncio.open_connection(service.host, service.port)
    writer.write(f"GET /api/v1/tasks?q={'x' * 1_048_576} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    await writer.drain()
    head, _, content = (await reader.read()).partition(b"\r\n\r\n")
    writer.close()
    assert head.startswith(b"HTTP/1.1 414 ") and PROBLEM.encode() in head, head
    assert json.loads(content)["type"].endswith("uri-too-long")

    # Nothing of it stuck: the team's lists all still answer, to both members.
    for member in (lead, dev):
        for path, params in lists:
            response = await client.get(path, headers=member, params=params)
            assert response.status_code in (200, 403), (path, response.text[:200])
