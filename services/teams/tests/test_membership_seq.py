"""Membership events carry the team's sequence number; the internal API answers by it,
and pages the names of everyone teams knows (what work's replica of names is rebuilt from)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from pydantic import SecretStr
from taskflow_contracts import auth
from taskflow_contracts.permissions import BUILT_IN_ROLES

MEMBERSHIP_EVENTS = {
    "taskflow.teams.member.joined.v1",
    "taskflow.teams.member.removed.v1",
    "taskflow.teams.member.role_changed.v1",
    "taskflow.teams.role.updated.v1",
    "taskflow.teams.team.deleted.v2",
    "taskflow.teams.team.restored.v1",
    "taskflow.teams.team.purged.v1",
}
KEY = "s3rvice-key"


def seqs_of(world: Any, team_id: str) -> list[tuple[str, int]]:
    return [
        (e.type.split(".")[-2], e.data["team_seq"])
        for e in world.published
        if e.type in MEMBERSHIP_EVENTS and e.data["team_id"] == team_id
    ]


def internal(world: Any, key: str | None = KEY) -> dict[str, str]:
    world.app.state.settings.internal_api_key = SecretStr(KEY)
    return {} if key is None else {"X-Service-Key": key}


async def test_every_membership_event_carries_the_next_team_seq(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    other = await world.team(ada, "Other")  # its own sequence
    bob = await world.join(team["id"], ada, "Developer", "bob")
    cat = await world.join(team["id"], ada, "Viewer", "cat")
    roles = await world.roles(team["id"], ada.headers)
    base = f"/api/v1/teams/{team['id']}"
    changed = await world.client.patch(
        f"{base}/members/{bob.user_id}", headers=ada.headers, json={"role_id": roles["Reviewer"]}
    )
    assert changed.status_code == 200, changed.text
    # A change to the same role changes nothing, publishes nothing, takes no number.
    same = await world.client.patch(
        f"{base}/members/{bob.user_id}", headers=ada.headers, json={"role_id": roles["Reviewer"]}
    )
    assert same.status_code == 200
    created = await world.client.post(
        f"{base}/roles", headers=ada.headers, json={"name": "Ops", "permissions": []}
    )
    assert created.status_code == 201, created.text
    # Deleting a role holds the team's row as the changes above do, but publishes no
    # membership event, so takes no number (nor does an invitation, before each join).
    deleted = await world.client.delete(f"{base}/roles/{created.json()['id']}", headers=ada.headers)
    assert deleted.status_code == 204, deleted.text
    updated = await world.client.patch(
        f"{base}/roles/{roles['Viewer']}",
        headers=ada.headers,
        json={"permissions": sorted(BUILT_IN_ROLES["Viewer"])[:1]},
    )
    assert updated.status_code == 200, updated.text
    assert (
        await world.client.delete(f"{base}/members/{cat.user_id}", headers=ada.headers)
    ).status_code == 204
    await world.auth_event(auth.UserDeleted(user_id=bob.user_id))
    assert (await world.client.delete(base, headers=ada.headers)).status_code == 204
    await world.settle()
    assert seqs_of(world, team["id"]) == [
        ("joined", 1),  # the leader, with the team
        ("joined", 2),
        ("joined", 3),
        ("role_changed", 4),
        ("updated", 5),  # the new role
        ("updated", 6),
        ("removed", 7),
        ("removed", 8),  # bob's account deleted
        ("deleted", 9),
    ]
    assert seqs_of(world, other["id"]) == [("joined", 1)]


async def test_a_deleted_account_hands_leadership_on_in_order(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    bob = await world.join(team["id"], ada, "Developer", "bob")
    await world.auth_event(auth.UserDeleted(user_id=ada.user_id))
    await world.settle()
    assert seqs_of(world, team["id"]) == [
        ("joined", 1),
        ("joined", 2),
        ("removed", 3),
        ("role_changed", 4),  # bob becomes Team Leader
    ]
    answer = await world.client.get(
        f"/internal/v1/memberships/{team['id']}", headers=internal(world)
    )
    assert answer.json()["seq"] == 4
    assert [(m["user_id"], m["role_name"]) for m in answer.json()["members"]] == [
        (str(bob.user_id), "Team Leader")
    ]


async def test_concurrent_membership_changes_take_distinct_numbers(
    world: Any, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: nothing concurrent to number")
    ada = await world.person("ada")
    team = await world.team(ada)
    people = [await world.join(team["id"], ada, "Developer") for _ in range(6)]
    roles = await world.roles(team["id"], ada.headers)
    base = f"/api/v1/teams/{team['id']}"
    await world.settle()
    before = len(seqs_of(world, team["id"]))
    answers = await asyncio.gather(
        *(
            world.client.patch(
                f"{base}/members/{p.user_id}",
                headers=ada.headers,
                json={"role_id": roles["Viewer"]},
            )
            for p in people[:3]
        ),
        *(
            world.client.delete(f"{base}/members/{p.user_id}", headers=ada.headers)
            for p in people[3:]
        ),
        world.client.patch(
            f"{base}/roles/{roles['Reviewer']}", headers=ada.headers, json={"permissions": []}
        ),
    )
    assert all(a.status_code in {200, 204} for a in answers), [a.text for a in answers]
    await world.settle()
    numbers = sorted(seq for _, seq in seqs_of(world, team["id"])[before:])
    assert numbers == list(range(before + 1, before + 8))
    answer = await world.client.get(
        f"/internal/v1/memberships/{team['id']}", headers=internal(world)
    )
    assert answer.json()["seq"] == before + 7


async def test_internal_api_needs_the_service_key(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    url = f"/internal/v1/memberships/{team['id']}"
    # No key configured: the internal API does not exist.
    assert (await world.client.get(url, headers={"X-Service-Key": ""})).status_code == 404
    assert (await world.client.get(url, headers=internal(world, None))).status_code == 401
    assert (await world.client.get(url, headers=internal(world, "wrong"))).status_code == 401
    # A user's JWT is no key.
    assert (await world.client.get(url, headers=ada.headers)).status_code == 401
    assert (
        await world.client.get("/internal/v1/memberships", headers=ada.headers)
    ).status_code == 401
    assert (await world.client.get(url, headers=internal(world))).status_code == 200


async def test_internal_api_answers_memberships_and_pages_every_team(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    bob = await world.join(team["id"], ada, "Developer", "bob")
    answer = await world.client.get(
        f"/internal/v1/memberships/{team['id']}", headers=internal(world)
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["team_id"] == team["id"] and body["name"] == "Platform" and body["seq"] == 2
    members = {m["user_id"]: m for m in body["members"]}
    assert set(members) == {str(ada.user_id), str(bob.user_id)}
    assert members[str(bob.user_id)]["role_name"] == "Developer"
    assert members[str(bob.user_id)]["permissions"] == sorted(BUILT_IN_ROLES["Developer"])
    missing = await world.client.get(
        f"/internal/v1/memberships/{uuid.uuid4()}", headers=internal(world)
    )
    assert missing.status_code == 404 and missing.json()["type"].endswith("/team-not-found")

    others = [await world.team(ada, f"T{i}") for i in range(4)]
    seen: list[tuple[str, int]] = []
    after: str | None = None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        page = (
            await world.client.get(
                "/internal/v1/memberships", params=params, headers=internal(world)
            )
        ).json()
        seen += [(item["team_id"], item["seq"]) for item in page["items"]]
        after = page["next_after"]
        if after is None:
            break
    # Keyset pages in the database's order of ids (MariaDB's is not the text's): each team
    # once, none missed.
    assert sorted(seen) == sorted([(team["id"], 2), *((t["id"], 1) for t in others)])


async def test_internal_api_pages_everyones_names(world: Any) -> None:
    ada = await world.person("ada")
    quiet = await world.person("quiet", participant=False)  # no display name
    others = [await world.person() for _ in range(3)]
    assert (
        await world.client.get("/internal/v1/people", headers=internal(world, "wrong"))
    ).status_code == 401
    seen: dict[str, dict[str, Any]] = {}
    after: str | None = None
    while True:
        params = {"limit": 2, **({"after": after} if after else {})}
        answer = await world.client.get(
            "/internal/v1/people", params=params, headers=internal(world)
        )
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["items"]) <= 2
        for item in page["items"]:
            assert item["user_id"] not in seen and set(item) == {
                "user_id",
                "username",
                "display_name",
                "updated_at",
            }
            seen[item["user_id"]] = item
        after = page["next_after"]
        if after is None:
            break
    # Keyset pages in the database's order of ids: each person once, none missed.
    assert set(seen) == {str(p.user_id) for p in (ada, quiet, *others)}
    assert (seen[str(ada.user_id)]["username"], seen[str(ada.user_id)]["display_name"]) == (
        "ada",
        "Ada",
    )
    assert seen[str(quiet.user_id)]["display_name"] is None
    # A deleted account is no longer listed.
    await world.auth_event(auth.UserDeleted(user_id=quiet.user_id))
    listed = (await world.client.get("/internal/v1/people", headers=internal(world))).json()
    assert str(quiet.user_id) not in {item["user_id"] for item in listed["items"]}
