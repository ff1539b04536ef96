"""A team always keeps a Team Leader and at least one member, whatever arrives at the
same instant: membership changes fired together, many rounds, on PostgreSQL and MariaDB,
as real HTTP requests into the app (each with its own session and connection)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from taskflow_chassis.testing import fresh_mysql_database, fresh_postgres_database
from taskflow_teams.teams.models import Membership, Role

ROUNDS = 10


@pytest.fixture(params=["postgres", "mysql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    fresh = fresh_postgres_database if request.param == "postgres" else fresh_mysql_database
    async with fresh("taskflow_teams_race") as url:
        yield url


async def census(world: Any, team_id: str) -> tuple[int, int]:
    """(members, leaders) as committed."""
    import uuid

    async with world.app.state.database.session() as session:
        team = uuid.UUID(team_id)
        members = (
            await session.execute(
                select(func.count()).select_from(Membership).where(Membership.team_id == team)  # type: ignore[arg-type]
            )
        ).scalar_one()
        leaders = (
            await session.execute(
                select(func.count())
                .select_from(Membership)
                .join(Role, Role.id == Membership.role_id)  # type: ignore[arg-type]
                .where(Membership.team_id == team, Role.is_leader.is_(True))  # type: ignore[arg-type,attr-defined]
            )
        ).scalar_one()
    return int(members), int(leaders)


async def two_leaders(world: Any, round_: int) -> tuple[dict[str, Any], Any, Any, dict[str, str]]:
    ada = await world.person(f"ada{round_}")
    team = await world.team(ada, f"Race {round_}")
    bob = await world.join(team["id"], ada, "Team Leader", f"bob{round_}")
    return team, ada, bob, await world.roles(team["id"], ada.headers)


def statuses(*answers: Any) -> list[int]:
    return sorted(a.status_code for a in answers)


async def test_two_leaders_demoting_each_other_at_once_leave_one_leader(world: Any) -> None:
    for round_ in range(ROUNDS):
        team, ada, bob, roles = await two_leaders(world, round_)
        base = f"/api/v1/teams/{team['id']}/members"
        demote = {"role_id": roles["Developer"]}
        answers = await asyncio.gather(
            world.client.patch(f"{base}/{bob.user_id}", headers=ada.headers, json=demote),
            world.client.patch(f"{base}/{ada.user_id}", headers=bob.headers, json=demote),
        )
        # The second runs after the first, as a Developer now: no longer allowed.
        assert statuses(*answers) == [200, 403], (round_, [a.text for a in answers])
        assert await census(world, team["id"]) == (2, 1), round_


async def test_two_leaders_leaving_at_once_leave_one_member_who_leads(world: Any) -> None:
    for round_ in range(ROUNDS):
        team, ada, bob, _ = await two_leaders(world, round_)
        base = f"/api/v1/teams/{team['id']}/members"
        answers = await asyncio.gather(
            world.client.delete(f"{base}/{ada.user_id}", headers=ada.headers),
            world.client.delete(f"{base}/{bob.user_id}", headers=bob.headers),
        )
        assert statuses(*answers) == [204, 409], (round_, [a.text for a in answers])
        conflict = next(a for a in answers if a.status_code == 409)
        assert conflict.json()["type"].endswith("last-team-leader")
        assert await census(world, team["id"]) == (1, 1), round_


async def test_removing_a_leader_while_being_demoted_by_them_leaves_one_leader(
    world: Any,
) -> None:
    for round_ in range(ROUNDS):
        team, ada, bob, roles = await two_leaders(world, round_)
        base = f"/api/v1/teams/{team['id']}/members"
        answers = await asyncio.gather(
            world.client.delete(f"{base}/{bob.user_id}", headers=ada.headers),
            world.client.patch(
                f"{base}/{ada.user_id}", headers=bob.headers, json={"role_id": roles["Viewer"]}
            ),
        )
        removed, demoted = answers
        outcome = (removed.status_code, demoted.status_code)
        # Either ada removed bob first (bob is then no member: 404), or bob demoted ada
        # first (ada is then a Viewer: 403). Never both.
        assert outcome in {(204, 404), (403, 200)}, (round_, [a.text for a in answers])
        expected = (1, 1) if outcome == (204, 404) else (2, 1)
        assert await census(world, team["id"]) == expected, round_


async def test_a_leader_leaving_while_the_other_leader_is_demoted(world: Any) -> None:
    for round_ in range(ROUNDS):
        team, ada, bob, roles = await two_leaders(world, round_)
        base = f"/api/v1/teams/{team['id']}/members"
        answers = await asyncio.gather(
            world.client.delete(f"{base}/{ada.user_id}", headers=ada.headers),
            world.client.patch(
                f"{base}/{bob.user_id}", headers=ada.headers, json={"role_id": roles["Viewer"]}
            ),
        )
        left, demoted = answers
        outcome = (left.status_code, demoted.status_code)
        # Leaving first: ada is gone and cannot demote (404). Demoting first: ada is the
        # last leader and cannot leave (409).
        assert outcome in {(204, 404), (409, 200)}, (round_, [a.text for a in answers])
        _, leaders = await census(world, team["id"])
        assert leaders == 1, round_
