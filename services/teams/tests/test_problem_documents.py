"""Every error teams documents, provoked: type, title, status and detail each time; each
409 names its field in errors[] (as a 422 does) and at the top level."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from taskflow_chassis.testing import check_method_refused, check_no_route, check_problem


def conflict(response: httpx.Response, loc: list[str]) -> dict[str, Any]:
    body = check_problem(response, 409)
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

    check_problem(await client.get("/api/v1/teams"), 401)
    check_problem(await client.get(f"/api/v1/teams/{uuid.uuid4()}", headers=lead.headers), 404)
    check_problem(await client.patch(base, headers=viewer.headers, json={"name": "Mine"}), 403)
    check_problem(await client.post("/api/v1/teams", headers=lead.headers, json={"name": ""}), 422)
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
    check_problem(
        await client.post(
            "/api/v1/invitations/accept", headers=late.headers, json={"token": late_token}
        ),
        410,
    )


async def test_unknown_paths_and_methods(world: Any) -> None:
    lead = await world.person("lead")
    await check_no_route(world.client, "/api/v1/teams/x/nothing", lead.headers)
    await check_method_refused(world.client, "PUT", "/api/v1/permissions", ["GET"], lead.headers)
    team = await world.team(lead)
    roles = f"/api/v1/teams/{team['id']}/roles"
    await check_method_refused(world.client, "PUT", roles, ["GET", "POST"], lead.headers)
