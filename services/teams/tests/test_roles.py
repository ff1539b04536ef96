"""Custom roles: created, edited, deleted when unused; Team Leader is fixed."""

from __future__ import annotations

from typing import Any


async def test_custom_role_lifecycle(world: Any) -> None:
    leader = await world.person()
    team = await world.team(leader)
    base = f"/api/v1/teams/{team['id']}/roles"
    created = await world.client.post(
        base,
        headers=leader.headers,
        json={"name": "QA", "permissions": ["tasks.review", "comments.create"]},
    )
    assert created.status_code == 201
    role = created.json()
    assert role["permissions"] == ["comments.create", "tasks.review"] and not role["is_builtin"]
    taken = await world.client.post(
        base, headers=leader.headers, json={"name": "qa", "permissions": []}
    )
    assert taken.status_code == 409
    unknown = await world.client.post(
        base, headers=leader.headers, json={"name": "Root", "permissions": ["everything"]}
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == [
        "body",
        "permissions",
        0,
    ]
    edited = await world.client.patch(
        f"{base}/{role['id']}", headers=leader.headers, json={"permissions": ["tasks.review"]}
    )
    assert edited.status_code == 200 and edited.json()["permissions"] == ["tasks.review"]
    member = await world.join(team["id"], leader, "Viewer")
    moved = await world.client.patch(
        f"/api/v1/teams/{team['id']}/members/{member.user_id}",
        headers=leader.headers,
        json={"role_id": role["id"]},
    )
    assert moved.status_code == 200
    me = (
        await world.client.get(f"/api/v1/teams/{team['id']}/members/me", headers=member.headers)
    ).json()
    assert me["permissions"] == ["tasks.review"]
    in_use = await world.client.delete(f"{base}/{role['id']}", headers=leader.headers)
    assert in_use.status_code == 409
    roles = await world.roles(team["id"], leader.headers)
    await world.client.patch(
        f"/api/v1/teams/{team['id']}/members/{member.user_id}",
        headers=leader.headers,
        json={"role_id": roles["Viewer"]},
    )
    assert (
        await world.client.delete(f"{base}/{role['id']}", headers=leader.headers)
    ).status_code == 204
    await world.settle()
    updates = world.of_type("taskflow.teams.role.updated.v1")
    assert [e.data["permissions"] for e in updates] == [
        ["comments.create", "tasks.review"],
        ["tasks.review"],
    ]


async def test_a_role_is_deleted_only_within_the_deleters_own_rights(world: Any) -> None:
    """Deleting a role takes away all it grants, so, as with an edit, only a role within
    the deleter's own rights: a member who manages roles but cannot read the audit log
    cannot delete a role that can (403 permission-escalation)."""
    leader = await world.person()
    team = await world.team(leader)
    base = f"/api/v1/teams/{team['id']}/roles"
    made = {}
    for name, permissions in [
        ("Role Keeper", ["roles.manage"]),
        ("Auditor", ["audit.read"]),
        ("Idle", []),
    ]:
        created = await world.client.post(
            base, headers=leader.headers, json={"name": name, "permissions": permissions}
        )
        assert created.status_code == 201, created.text
        made[name] = created.json()["id"]
    keeper = await world.join(team["id"], leader, "Role Keeper")
    for attempt in [
        world.client.patch(
            f"{base}/{made['Auditor']}", headers=keeper.headers, json={"permissions": []}
        ),
        world.client.delete(f"{base}/{made['Auditor']}", headers=keeper.headers),
    ]:
        refused = await attempt
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("permission-escalation")
    assert made["Auditor"] in (await world.roles(team["id"], leader.headers)).values()
    allowed = await world.client.delete(f"{base}/{made['Idle']}", headers=keeper.headers)
    assert allowed.status_code == 204, allowed.text


async def test_team_leader_role_is_fixed_and_builtins_stay(world: Any) -> None:
    leader = await world.person()
    team = await world.team(leader)
    roles = await world.roles(team["id"], leader.headers)
    base = f"/api/v1/teams/{team['id']}/roles"
    edit = await world.client.patch(
        f"{base}/{roles['Team Leader']}", headers=leader.headers, json={"permissions": []}
    )
    assert edit.status_code == 409
    delete = await world.client.delete(f"{base}/{roles['Team Leader']}", headers=leader.headers)
    assert delete.status_code == 409
    assert (
        await world.client.delete(f"{base}/{roles['Viewer']}", headers=leader.headers)
    ).status_code == 409
    # A built-in role other than Team Leader can be tuned.
    tuned = await world.client.patch(
        f"{base}/{roles['Developer']}",
        headers=leader.headers,
        json={"permissions": ["tasks.create", "tasks.update", "tasks.assign"]},
    )
    assert tuned.status_code == 200
    missing = await world.client.patch(
        f"{base}/{team['id']}", headers=leader.headers, json={"name": "x"}
    )
    assert missing.status_code == 404
