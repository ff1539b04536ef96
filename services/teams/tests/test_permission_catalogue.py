"""GET /api/v1/permissions: the catalogue, each permission described, the built-in grants."""

from __future__ import annotations

import uuid
from typing import Any

from taskflow_contracts import permissions as P

URL = "/api/v1/permissions"


async def test_any_signed_in_user_reads_the_catalogue(world: Any) -> None:
    # Someone teams has never heard of (no team, no replica row) reads it all the same.
    stranger = world.tokens.headers(uuid.uuid4())
    response = await world.client.get(URL, headers=stranger)
    assert response.status_code == 200, response.text
    catalogue = response.json()
    names = [p["name"] for p in catalogue["permissions"]]
    assert names == sorted(P.ALL_PERMISSIONS)
    for permission in catalogue["permissions"]:
        assert permission["description"] == P.DESCRIPTIONS[permission["name"]]
        assert permission["description"].strip(), permission
    assert {r["name"]: set(r["permissions"]) for r in catalogue["built_in_roles"]} == {
        name: set(granted) for name, granted in P.BUILT_IN_ROLES.items()
    }
    assert catalogue["built_in_roles"][0]["name"] == P.TEAM_LEADER


async def test_the_catalogue_tells_what_a_new_team_s_roles_grant(world: Any) -> None:
    lead = await world.person("lead")
    team = await world.team(lead)
    roles = await world.client.get(f"/api/v1/teams/{team['id']}/roles", headers=lead.headers)
    granted = {r["name"]: sorted(r["permissions"]) for r in roles.json()["items"]}
    catalogue = (await world.client.get(URL, headers=lead.headers)).json()
    assert {r["name"]: r["permissions"] for r in catalogue["built_in_roles"]} == granted
    # Every permission it lists is one a custom role may grant.
    custom = await world.client.post(
        f"/api/v1/teams/{team['id']}/roles",
        headers=lead.headers,
        json={"name": "Everything", "permissions": [p["name"] for p in catalogue["permissions"]]},
    )
    assert custom.status_code == 201, custom.text


async def test_the_catalogue_needs_a_token_and_is_documented(world: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = await world.client.get(URL, headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"]
    document = world.app.openapi()
    operation = document["paths"][URL]["get"]
    assert {"200", "401"} <= set(operation["responses"])
    assert "signed-in" in operation["description"]
    schemas = document["components"]["schemas"]
    assert set(schemas["PermissionCatalogue"]["properties"]) == {"permissions", "built_in_roles"}
    assert set(schemas["PermissionRead"]["properties"]) == {"name", "description"}


def test_every_permission_is_described_once() -> None:
    assert set(P.DESCRIPTIONS) == P.ALL_PERMISSIONS
    assert len(set(P.DESCRIPTIONS.values())) == len(P.DESCRIPTIONS)
    for granted in P.BUILT_IN_ROLES.values():
        assert granted <= P.ALL_PERMISSIONS
