"""Deleting a team is a soft delete: hidden (404) from every read and write, restorable
for 30 days by whoever could delete it, with its members as they were; then purged by
the scheduled job, which says so once (issue 18)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from taskflow_chassis.types import table_of
from taskflow_chassis.unit_of_work import Publisher
from taskflow_teams.teams.models import Membership, Role, Team
from taskflow_teams.teams.scheduled import purge_deleted_teams


async def _purge(world: Any) -> int:
    state = world.app.state
    publisher: Publisher = state.publisher
    return await purge_deleted_teams(state.database, publisher, world.clock())


async def _count(world: Any, model: Any, team_id: str) -> int:
    column = table_of(model).c.id if model is Team else table_of(model).c.team_id
    async with world.app.state.database.session() as session:
        query = select(func.count()).select_from(model).where(column == uuid.UUID(team_id))
        return int((await session.execute(query)).scalar_one())


async def test_delete_hides_the_team_and_restore_brings_it_back(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    bob = await world.join(team["id"], ada, "Developer", "bob")
    base = f"/api/v1/teams/{team['id']}"
    members_before = (await world.client.get(f"{base}/members", headers=ada.headers)).json()

    assert (await world.client.delete(base, headers=ada.headers)).status_code == 204
    for person in (ada, bob):
        for path in ("", "/members", "/members/me", "/roles", "/invitations"):
            read = await world.client.get(f"{base}{path}", headers=person.headers)
            assert read.status_code == 404, (path, read.text)
        listed = (await world.client.get("/api/v1/teams", headers=person.headers)).json()
        assert team["id"] not in [t["id"] for t in listed["items"]]
    renamed = await world.client.patch(base, headers=ada.headers, json={"name": "X"})
    assert renamed.status_code == 404
    assert (await world.client.delete(base, headers=ada.headers)).status_code == 404

    restored = await world.client.post(f"{base}/restore", headers=ada.headers)
    assert restored.status_code == 200, restored.text
    assert restored.json()["id"] == team["id"]
    assert (await world.client.get(base, headers=bob.headers)).status_code == 200
    members_after = (await world.client.get(f"{base}/members", headers=ada.headers)).json()
    assert members_after == members_before
    # A retried restore answers the team as it is.
    again = await world.client.post(f"{base}/restore", headers=ada.headers)
    assert again.status_code == 200

    await world.settle()
    assert [e.data["team_id"] for e in world.of_type("taskflow.teams.team.deleted.v2")] == [
        team["id"]
    ]
    deleted = world.of_type("taskflow.teams.team.deleted.v2")[0].data
    assert deleted["team_seq"] is not None and deleted["purge_after"] > deleted["deleted_at"]
    assert [e.data["team_id"] for e in world.of_type("taskflow.teams.team.restored.v1")] == [
        team["id"]
    ]
    assert world.of_type("taskflow.teams.team.deleted.v1") == []


async def test_restore_needs_membership_then_the_permission(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    bob = await world.join(team["id"], ada, "Developer", "bob")
    eve = await world.person("eve")
    base = f"/api/v1/teams/{team['id']}"
    assert (await world.client.delete(base, headers=ada.headers)).status_code == 204

    stranger = await world.client.post(f"{base}/restore", headers=eve.headers)
    assert stranger.status_code == 404
    assert stranger.headers["content-type"].startswith("application/problem+json")
    member = await world.client.post(f"{base}/restore", headers=bob.headers)
    assert member.status_code == 403, member.text
    assert member.headers["content-type"].startswith("application/problem+json")
    nothing = await world.client.post(
        "/api/v1/teams/00000000-0000-4000-8000-000000000000/restore", headers=ada.headers
    )
    assert nothing.status_code == 404
    # Live team: a non-member still learns nothing of it.
    other = await world.team(ada, "Other")
    hidden = await world.client.post(f"/api/v1/teams/{other['id']}/restore", headers=eve.headers)
    assert hidden.status_code == 404


async def test_purge_after_thirty_days_erases_the_rows_and_says_so_once(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    kept = await world.team(ada, "Kept")
    await world.join(team["id"], ada, "Developer", "bob")
    base = f"/api/v1/teams/{team['id']}"
    assert (await world.client.delete(base, headers=ada.headers)).status_code == 204

    world.clock.offset = timedelta(days=29, hours=23)
    assert await _purge(world) == 0
    assert await _count(world, Team, team["id"]) == 1

    world.clock.offset = timedelta(days=30, minutes=1)
    # Too late to restore: the purge is due.
    late = await world.client.post(f"{base}/restore", headers=ada.headers)
    assert late.status_code == 404
    assert await _purge(world) == 1
    assert await _purge(world) == 0
    for model in (Team, Membership, Role):
        assert await _count(world, model, team["id"]) == 0
    assert await _count(world, Team, kept["id"]) == 1

    await world.settle()
    purged = world.of_type("taskflow.teams.team.purged.v1")
    assert [e.data["team_id"] for e in purged] == [team["id"]]
    assert (await world.client.post(f"{base}/restore", headers=ada.headers)).status_code == 404


async def test_a_restored_team_is_not_purged(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    base = f"/api/v1/teams/{team['id']}"
    assert (await world.client.delete(base, headers=ada.headers)).status_code == 204
    world.clock.offset = timedelta(days=10)
    assert (await world.client.post(f"{base}/restore", headers=ada.headers)).status_code == 200
    world.clock.offset = timedelta(days=45)
    assert await _purge(world) == 0
    assert (await world.client.get(base, headers=ada.headers)).status_code == 200
    await world.settle()
    assert world.of_type("taskflow.teams.team.purged.v1") == []


async def test_no_one_joins_a_deleted_team(world: Any) -> None:
    ada = await world.person("ada")
    team = await world.team(ada)
    roles = await world.roles(team["id"], ada.headers)
    cat = await world.person("cat")
    _, token = await world.invite(team["id"], ada, cat.email, roles["Developer"])
    base = f"/api/v1/teams/{team['id']}"
    assert (await world.client.delete(base, headers=ada.headers)).status_code == 204
    refused = await world.client.post(
        "/api/v1/invitations/accept", headers=cat.headers, json={"token": token}
    )
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("team-deleted")
    assert (await world.client.post(f"{base}/restore", headers=ada.headers)).status_code == 200
    accepted = await world.client.post(
        "/api/v1/invitations/accept", headers=cat.headers, json={"token": token}
    )
    assert accepted.status_code == 200, accepted.text
