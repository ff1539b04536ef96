"""Every error teams documents, provoked: type, title, status and detail each time; each
409 names its field in errors[] (as a 422 does) and at the top level."""

from __future__ import annotations

import uuid
from datetime import timedelta
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


def conflict(response: httpx.Response, loc: list[str]) -> dict[str, Any]:
    body = check(response, 409)
    [error] = body["errors"]
    assert error["loc"] == loc and error["field"] == body["field"] == loc[-1], body
    assert error["msg"] == body["detail"] and body["type"].endswith("/" + error["type"])
    return body


async def test_teams_errors_have_one_shape(world: Any) -> None:
    client = world.client
    lead = await world.person("lead")
    team = await world.team(lead)
    base = f"/api/v1/teams/{team['id']}"
    roles = await world.roles(team["id"], lead.headers)
    viewer = await world.join(team["id"], lead, "Viewer", "viewer")

    check(await client.get("/api/v1/teams"), 401)
    check(await client.get(f"/api/v1/teams/{uuid.uuid4()}", headers=lead.headers), 404)
    check(await client.patch(base, headers=viewer.headers, json={"name": "Mine"}), 403)
    check(await client.post("/api/v1/teams", headers=lead.headers, json={"name": ""}), 422)
    conflict(
        await client.post(f"{base}/roles", headers=lead.headers, json={"name": "Developer"}),
        ["body", "name"],
    )
    conflict(
        await client.delete(f"{base}/roles/{roles['Developer']}", headers=lead.headers),
        ["path", "role_id"],
    )
    conflict(
        await client.patch(
            f"{base}/roles/{roles['Team Leader']}", headers=lead.headers, json={"permissions": []}
        ),
        ["path", "role_id"],
    )
    conflict(
        await client.delete(f"{base}/members/{lead.user_id}", headers=lead.headers),
        ["path", "user_id"],
    )
    conflict(
        await client.post(
            f"{base}/invitations",
            headers=lead.headers,
            json={"email": viewer.email, "role_id": roles["Developer"]},
        ),
        ["body", "email"],
    )
    newcomer = await world.person("newcomer")
    invitation, token = await world.invite(team["id"], lead, newcomer.email, roles["Developer"])
    conflict(
        await client.post(
            f"{base}/invitations",
            headers=lead.headers,
            json={"email": newcomer.email, "role_id": roles["Developer"]},
        ),
        ["body", "email"],
    )
    revoke = f"{base}/invitations/{invitation['id']}"
    assert (await client.delete(revoke, headers=lead.headers)).status_code == 204
    conflict(await client.delete(revoke, headers=lead.headers), ["path", "invitation_id"])
    conflict(
        await client.post(
            "/api/v1/invitations/accept", headers=newcomer.headers, json={"token": token}
        ),
        ["body", "token"],
    )
    late = await world.person("late")
    _, late_token = await world.invite(team["id"], lead, late.email, roles["Developer"])
    world.clock.offset = timedelta(days=7, seconds=1)
    check(
        await client.post(
            "/api/v1/invitations/accept", headers=late.headers, json={"token": late_token}
        ),
        410,
    )


async def test_unknown_paths_and_methods(world: Any) -> None:
    lead = await world.person("lead")
    missing = check(await world.client.get("/api/v1/teams/x/nothing", headers=lead.headers), 404)
    assert missing["detail"] == "No route for /api/v1/teams/x/nothing."
    method = check(await world.client.put("/api/v1/permissions", headers=lead.headers), 405)
    assert method["detail"] == "PUT is not allowed on /api/v1/permissions. Allowed: GET."
    team = await world.team(lead)
    roles = await world.client.put(f"/api/v1/teams/{team['id']}/roles", headers=lead.headers)
    body = check(roles, 405)
    assert body["detail"].endswith("Allowed: GET, POST.") and roles.headers["allow"] == "GET, POST"
