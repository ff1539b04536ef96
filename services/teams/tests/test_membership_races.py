"""A team always keeps a Team Leader and at least one member, and a role is deleted only
while nobody holds it and no pending invitation offers it, whatever arrives at the same
instant: changes fired together as real HTTP requests into the app (each with its own
session and connection), many rounds, on PostgreSQL, MariaDB and SQLite (`make dev`)."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlmodel import col
from taskflow_chassis.testing import fresh_database
from taskflow_teams.teams.models import Membership, Role
from taskflow_teams.teams.service import hold_membership_seq

ROUNDS = 6


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


async def after(seconds: float, request: Awaitable[Any]) -> Any:
    await asyncio.sleep(seconds)
    return await request


def jitter() -> float:
    return random.uniform(0, 0.01)


async def custom_role(
    world: Any,
    team_id: str,
    leader: Any,
    name: str,
    permissions: tuple[str, ...] = ("tasks.create",),
) -> str:
    made = await world.client.post(
        f"/api/v1/teams/{team_id}/roles",
        headers=leader.headers,
        json={"name": name, "permissions": list(permissions)},
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def deleted_while_handed_out(
    world: Any, base: str, leader: Any, role_id: str, hand_out: Awaitable[Any], handed: int
) -> tuple[Any, Any]:
    """The role's DELETE and a request handing it out (answering ``handed`` when it does),
    fired together, each a little late: one goes first and the other is refused, clearly."""
    deleted, handing = await asyncio.gather(
        after(jitter(), world.client.delete(f"{base}/roles/{role_id}", headers=leader.headers)),
        after(jitter(), hand_out),
    )
    outcome = (deleted.status_code, handing.status_code)
    assert outcome in {(204, 422), (409, handed)}, (deleted.text, handing.text)
    refused, problem = (
        (handing, "role-not-found") if outcome == (204, 422) else (deleted, "role-in-use")
    )
    assert refused.json()["type"].endswith(problem), refused.text
    return deleted, handing


async def test_a_role_deleted_while_given_to_a_member_is_refused_or_never_given(
    world: Any,
) -> None:
    """DELETE /roles/{id} racing PATCH /members/{id} {role_id}: the role goes first (the
    change is a 422 role-not-found, the member keeps their role) or the member gets it
    first (the deletion is a 409 role-in-use). Never a 500."""
    for round_ in range(ROUNDS):
        ada = await world.person(f"ada{round_}")
        team = await world.team(ada, f"Roles {round_}")
        bob = await world.join(team["id"], ada, "Developer", f"bob{round_}")
        role_id = await custom_role(world, team["id"], ada, f"Temp{round_}")
        base = f"/api/v1/teams/{team['id']}"
        changing = world.client.patch(
            f"{base}/members/{bob.user_id}", headers=ada.headers, json={"role_id": role_id}
        )
        deleted, _ = await deleted_while_handed_out(world, base, ada, role_id, changing, 200)
        roles = await world.roles(team["id"], ada.headers)
        bobs = await world.client.get(f"{base}/members/{bob.user_id}", headers=ada.headers)
        kept = role_id if deleted.status_code == 409 else roles["Developer"]
        assert bobs.json()["role_id"] == kept, round_


async def test_a_role_deleted_while_offered_by_an_invitation_is_refused_or_never_offered(
    world: Any,
) -> None:
    """DELETE /roles/{id} racing POST /invitations {role_id}: the role goes first (the
    invitation is a 422 role-not-found) or the invitation is made first (the deletion is a
    409 role-in-use: a pending invitation offers it). Never a 500, and never a 201
    invitation, its email on the way, that the role's deletion then erases."""
    for round_ in range(ROUNDS):
        ada = await world.person(f"ada{round_}")
        team = await world.team(ada, f"Invites {round_}")
        role_id = await custom_role(world, team["id"], ada, f"Temp{round_}")
        base = f"/api/v1/teams/{team['id']}"
        inviting = world.client.post(
            f"{base}/invitations",
            headers=ada.headers,
            json={"email": f"guest{round_}@example.com", "role_id": role_id},
        )
        deleted, invited = await deleted_while_handed_out(world, base, ada, role_id, inviting, 201)
        listed = await world.client.get(f"{base}/invitations", headers=ada.headers)
        offered = [item["id"] for item in listed.json()["items"]]
        assert offered == ([invited.json()["id"]] if deleted.status_code == 409 else []), round_


async def test_two_invitations_of_one_email_at_once_make_one(world: Any) -> None:
    """Two leaders invite the same address at the same instant: one invitation is made, the
    other answered 409 already-invited (each waits for the team's row, then must see the
    invitation the first committed, MariaDB's older snapshot included)."""
    for round_ in range(ROUNDS):
        ada = await world.person(f"ada{round_}")
        team = await world.team(ada, f"Invites {round_}")
        base = f"/api/v1/teams/{team['id']}"
        body = {
            "email": f"guest{round_}@example.com",
            "role_id": (await world.roles(team["id"], ada.headers))["Developer"],
        }
        answers = await asyncio.gather(
            *(
                after(
                    jitter(),
                    world.client.post(f"{base}/invitations", headers=ada.headers, json=body),
                )
                for _ in range(2)
            )
        )
        assert sorted(statuses(*answers)) == [201, 409], [a.text for a in answers]
        listed = await world.client.get(f"{base}/invitations", headers=ada.headers)
        assert len(listed.json()["items"]) == 1, round_


async def test_a_role_deletion_that_waited_for_the_team_rechecks_the_deleters_role(
    world: Any,
) -> None:
    """A deletion reads the deleter's role again once it holds the team's row, as an edit
    does: one who lost roles.manage while it waited (to a demotion holding that row) is
    refused (403), and the role stays."""
    ada = await world.person("ada")
    team = await world.team(ada)
    await custom_role(world, team["id"], ada, "Role Keeper", ("roles.manage",))
    bob = await world.join(team["id"], ada, "Role Keeper", "bob")
    doomed = await custom_role(world, team["id"], ada, "Temp")
    roles = await world.roles(team["id"], ada.headers)
    team_id = uuid.UUID(team["id"])
    async with world.app.state.database.session() as demotion:
        await hold_membership_seq(demotion, team_id)
        await demotion.execute(
            update(Membership)
            .where(col(Membership.team_id) == team_id, col(Membership.user_id) == bob.user_id)
            .values(role_id=uuid.UUID(roles["Viewer"]))
        )
        deletion = asyncio.create_task(
            world.client.delete(f"/api/v1/teams/{team['id']}/roles/{doomed}", headers=bob.headers)
        )
        await asyncio.sleep(1)  # the deletion, let in as a Role Keeper, waits for the row
        await demotion.commit()
    refused = await deletion
    assert refused.status_code == 403, refused.text
    assert doomed in (await world.roles(team["id"], ada.headers)).values()
