"""Teams and members: creation needs a participant, a team always keeps a leader."""

from __future__ import annotations

from typing import Any

from taskflow_contracts.permissions import ALL_PERMISSIONS


async def test_create_needs_a_participant_profile(world: Any) -> None:
    nobody = await world.person("sam", participant=False)
    response = await world.client.post(
        "/api/v1/teams", headers=nobody.headers, json={"name": "Ops"}
    )
    assert response.status_code == 403
    assert "participants/register" in response.json()["detail"]
    assert response.headers["content-type"] == "application/problem+json"


async def test_create_list_read_and_my_membership(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada, "Platform")
    assert team["my_role"]["name"] == "Team Leader" and team["created_by"] == str(ada.user_id)
    mine = (await world.client.get("/api/v1/teams", headers=ada.headers)).json()
    assert [t["id"] for t in mine["items"]] == [team["id"]] and mine["next_cursor"] is None
    me = (
        await world.client.get(f"/api/v1/teams/{team['id']}/members/me", headers=ada.headers)
    ).json()
    assert me["role_name"] == "Team Leader" and set(me["permissions"]) == ALL_PERMISSIONS
    roles = await world.roles(team["id"], ada.headers)
    assert set(roles) == {"Team Leader", "Project Manager", "Developer", "Reviewer", "Viewer"}
    await world.settle()
    [created] = world.of_type("taskflow.teams.team.created.v1")
    assert created.data == {
        "team_id": team["id"],
        "name": "Platform",
        "leader_id": str(ada.user_id),
    }
    [joined] = world.of_type("taskflow.teams.member.joined.v1")
    assert (
        joined.data["user_id"] == str(ada.user_id)
        and set(joined.data["permissions"]) == ALL_PERMISSIONS
    )


async def test_members_listed_with_role_and_join_time(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    bob = await world.join(team["id"], ada, "Developer", "bob")
    members = (
        await world.client.get(f"/api/v1/teams/{team['id']}/members", headers=bob.headers)
    ).json()["items"]
    assert [(m["username"], m["role_name"]) for m in members] == [
        ("ada", "Team Leader"),
        ("bob", "Developer"),
    ]
    assert all(m["joined_at"] for m in members)
    paged = (
        await world.client.get(f"/api/v1/teams/{team['id']}/members?limit=1", headers=bob.headers)
    ).json()
    assert len(paged["items"]) == 1 and paged["next_cursor"]
    rest = await world.client.get(
        f"/api/v1/teams/{team['id']}/members",
        params={"limit": 1, "cursor": paged["next_cursor"]},
        headers=bob.headers,
    )
    assert [m["username"] for m in rest.json()["items"]] == ["bob"]


async def test_last_leader_cannot_leave_or_be_demoted(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    roles = await world.roles(team["id"], ada.headers)
    base = f"/api/v1/teams/{team['id']}/members"
    leave = await world.client.delete(f"{base}/{ada.user_id}", headers=ada.headers)
    assert leave.status_code == 409
    demote = await world.client.patch(
        f"{base}/{ada.user_id}", headers=ada.headers, json={"role_id": roles["Viewer"]}
    )
    assert demote.status_code == 409
    bob = await world.join(team["id"], ada, "Developer", "bob")
    promoted = await world.client.patch(
        f"{base}/{bob.user_id}", headers=ada.headers, json={"role_id": roles["Team Leader"]}
    )
    assert promoted.status_code == 200 and promoted.json()["role_name"] == "Team Leader"
    assert (
        await world.client.delete(f"{base}/{ada.user_id}", headers=ada.headers)
    ).status_code == 204
    assert (
        await world.client.get(f"/api/v1/teams/{team['id']}", headers=ada.headers)
    ).status_code == 404
    await world.settle()
    assert [e.data["user_id"] for e in world.of_type("taskflow.teams.member.removed.v1")] == [
        str(ada.user_id)
    ]
    [changed] = world.of_type("taskflow.teams.member.role_changed.v1")
    assert (
        changed.data["user_id"] == str(bob.user_id) and changed.data["role_name"] == "Team Leader"
    )


async def test_member_can_leave(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    viewer = await world.join(team["id"], ada, "Viewer")
    gone = await world.client.delete(
        f"/api/v1/teams/{team['id']}/members/{viewer.user_id}", headers=viewer.headers
    )
    assert gone.status_code == 204
    assert (
        await world.client.get(f"/api/v1/teams/{team['id']}", headers=viewer.headers)
    ).status_code == 404


async def test_rename_and_delete(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    renamed = await world.client.patch(
        f"/api/v1/teams/{team['id']}",
        headers=ada.headers,
        json={"name": "Core", "description": "The core team"},
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Core"
    assert (
        await world.client.delete(f"/api/v1/teams/{team['id']}", headers=ada.headers)
    ).status_code == 204
    assert (
        await world.client.get(f"/api/v1/teams/{team['id']}", headers=ada.headers)
    ).status_code == 404
    await world.settle()
    assert [e.data["name"] for e in world.of_type("taskflow.teams.team.updated.v1")] == ["Core"]
    assert [e.data["team_id"] for e in world.of_type("taskflow.teams.team.deleted.v2")] == [
        team["id"]
    ]


async def test_bad_input_is_a_problem_not_a_500(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    cases = [
        ("POST", "/api/v1/teams", {"name": ""}),
        ("POST", "/api/v1/teams", {"name": "x" * 101}),
        ("POST", "/api/v1/teams", {"name": "ok", "owner": "me"}),
        ("PATCH", f"/api/v1/teams/{team['id']}", {"name": 12}),
        ("POST", f"/api/v1/teams/{team['id']}/roles", {"name": "R", "permissions": ["root"]}),
        (
            "POST",
            f"/api/v1/teams/{team['id']}/invitations",
            {"email": "not-an-email", "role_id": team["id"]},
        ),
        ("PATCH", f"/api/v1/teams/{team['id']}/members/{ada.user_id}", {"role_id": "nope"}),
        ("POST", "/api/v1/invitations/accept", {"token": "x" * 100_000}),
    ]
    for method, path, body in cases:
        response = await world.client.request(method, path, headers=ada.headers, json=body)
        assert response.status_code == 422, (path, body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    raw = await world.client.post(
        "/api/v1/teams",
        headers={**ada.headers, "content-type": "application/json"},
        content=b"{nope",
    )
    assert raw.status_code == 422
    assert (
        await world.client.get("/api/v1/teams/not-a-uuid", headers=ada.headers)
    ).status_code == 422
    assert (
        await world.client.get("/api/v1/teams", headers={"X-User-Id": str(ada.user_id)})
    ).status_code == 401
