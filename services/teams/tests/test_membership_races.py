"""A team always keeps a Team Leader and at least one member, whatever arrives at the
same instant: membership changes fired together as real HTTP requests into the app
(each with its own session and connection), many rounds, on PostgreSQL, MariaDB and
SQLite (`make dev`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col
from taskflow_chassis.testing import fresh_database
from taskflow_teams.teams.models import Membership, Role

ROUNDS = 10


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path, "taskflow_teams_race") as url:
        yield url


async def census(world: Any, team_id: str) -> tuple[int, int]:
    """(members, leaders) as committed."""
    async with world.app.state.database.session() as session:
        team = uuid.UUID(team_id)
        members = (
            await session.execute(
                select(func.count()).select_from(Membership).where(col(Membership.team_id) == team)
            )
        ).scalar_one()
        leaders = (
            await session.execute(
                select(func.count())
                .select_from(Membership)
                .join(Role, col(Role.id) == Membership.role_id)
                .where(col(Membership.team_id) == team, col(Role.is_leader).is_(True))
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


# (who removes whom, who demotes whom) -> {(removal, demotion) statuses: (members, leaders)}
REMOVAL_RACING_DEMOTION = {
    # Ada removes bob first (bob, no member now, cannot demote: 404), or bob demotes ada
    # first (ada, a Viewer now, cannot remove: 403). Never both.
    (("ada", "bob"), ("bob", "ada")): {(204, 404): (1, 1), (403, 200): (2, 1)},
    # Ada leaves first (then cannot demote: 404), or demotes bob first (then is the last
    # leader and cannot leave: 409).
    (("ada", "ada"), ("ada", "bob")): {(204, 404): (1, 1), (409, 200): (2, 1)},
    # Ada deletes the team first (a soft delete: its members are kept as they were for a
    # restore, and there is no team to demote in: 404), or bob demotes her first (a Viewer
    # cannot delete the team: 403).
    (("ada", "team"), ("bob", "ada")): {(204, 404): (2, 2), (403, 200): (2, 1)},
}


@pytest.mark.parametrize(
    ("removal", "demotion"),
    list(REMOVAL_RACING_DEMOTION),
    ids=["remove-vs-demote", "leave-vs-demote", "delete-team-vs-demote"],
)
async def test_a_removal_racing_a_demotion_leaves_one_leader(
    world: Any, removal: tuple[str, str], demotion: tuple[str, str]
) -> None:
    outcomes = REMOVAL_RACING_DEMOTION[(removal, demotion)]
    for round_ in range(ROUNDS):
        team, ada, bob, roles = await two_leaders(world, round_)
        people = {"ada": ada, "bob": bob}
        team_path = f"/api/v1/teams/{team['id']}"
        base = f"{team_path}/members"
        removed = team_path if removal[1] == "team" else f"{base}/{people[removal[1]].user_id}"
        remover, (demoter, demoted) = people[removal[0]], (people[n] for n in demotion)
        answers = await asyncio.gather(
            world.client.delete(removed, headers=remover.headers),
            world.client.patch(
                f"{base}/{demoted.user_id}",
                headers=demoter.headers,
                json={"role_id": roles["Viewer"]},
            ),
        )
        outcome = (answers[0].status_code, answers[1].status_code)
        assert outcome in outcomes, (round_, [a.text for a in answers])
        assert await census(world, team["id"]) == outcomes[outcome], round_
