"""Every route, every built-in role and a non-member: exact statuses; refused writes change nothing.

Each case meets a team as built, with one member per built-in role, a spare Viewer
to act on, a custom role and a pending invitation: a new one after a write changed
it (taskflow_chassis.testing.permission_matrix), so an allowed write in one case
cannot mask a refused one in another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from taskflow_chassis.testing import permission_matrix, rows_snapshot
from taskflow_teams.teams.models import Invitation, Membership, Role, Team

ROLES = ["Team Leader", "Project Manager", "Developer", "Reviewer", "Viewer", "outsider"]
LEADER_ONLY = {"Team Leader"}
INVITERS = {"Team Leader", "Project Manager"}
EVERY_MEMBER = set(ROLES) - {"outsider"}


@dataclass
class Setup:
    team_id: str
    roles: dict[str, str]
    target: Any
    custom_role_id: str
    invitation_id: str


Request = Callable[[Setup], tuple[str, str, dict[str, Any] | None]]

ROUTES: list[tuple[str, Request, set[str], int]] = [
    ("read team", lambda s: ("GET", f"/api/v1/teams/{s.team_id}", None), EVERY_MEMBER, 200),
    (
        "rename team",
        lambda s: ("PATCH", f"/api/v1/teams/{s.team_id}", {"name": "Renamed"}),
        LEADER_ONLY,
        200,
    ),
    ("delete team", lambda s: ("DELETE", f"/api/v1/teams/{s.team_id}", None), LEADER_ONLY, 204),
    (
        "list members",
        lambda s: ("GET", f"/api/v1/teams/{s.team_id}/members", None),
        EVERY_MEMBER,
        200,
    ),
    (
        "my membership",
        lambda s: ("GET", f"/api/v1/teams/{s.team_id}/members/me", None),
        EVERY_MEMBER,
        200,
    ),
    (
        "change a member's role",
        lambda s: (
            "PATCH",
            f"/api/v1/teams/{s.team_id}/members/{s.target.user_id}",
            {"role_id": s.roles["Developer"]},
        ),
        LEADER_ONLY,
        200,
    ),
    (
        "remove a member",
        lambda s: ("DELETE", f"/api/v1/teams/{s.team_id}/members/{s.target.user_id}", None),
        LEADER_ONLY,
        204,
    ),
    ("list roles", lambda s: ("GET", f"/api/v1/teams/{s.team_id}/roles", None), EVERY_MEMBER, 200),
    (
        "create a role",
        lambda s: (
            "POST",
            f"/api/v1/teams/{s.team_id}/roles",
            {"name": "Triager", "permissions": ["tasks.update"]},
        ),
        LEADER_ONLY,
        201,
    ),
    (
        "edit a role",
        lambda s: (
            "PATCH",
            f"/api/v1/teams/{s.team_id}/roles/{s.custom_role_id}",
            {"permissions": []},
        ),
        LEADER_ONLY,
        200,
    ),
    (
        "delete a role",
        lambda s: ("DELETE", f"/api/v1/teams/{s.team_id}/roles/{s.custom_role_id}", None),
        LEADER_ONLY,
        204,
    ),
    (
        "invite",
        lambda s: (
            "POST",
            f"/api/v1/teams/{s.team_id}/invitations",
            {"email": "new@example.com", "role_id": s.roles["Viewer"]},
        ),
        INVITERS,
        201,
    ),
    (
        "list invitations",
        lambda s: ("GET", f"/api/v1/teams/{s.team_id}/invitations", None),
        INVITERS,
        200,
    ),
    (
        "revoke an invitation",
        lambda s: ("DELETE", f"/api/v1/teams/{s.team_id}/invitations/{s.invitation_id}", None),
        INVITERS,
        204,
    ),
    (
        "resend an invitation",
        lambda s: ("POST", f"/api/v1/teams/{s.team_id}/invitations/{s.invitation_id}/resend", None),
        INVITERS,
        200,
    ),
    (
        "read the audit log",
        lambda s: ("GET", f"/api/v1/teams/{s.team_id}/audit", None),
        LEADER_ONLY,
        200,
    ),
]


async def snapshot(world: Any) -> dict[str, list[str]]:
    """Every row a teams write could touch, plus the outbox (a refused write publishes nothing)."""
    await world.settle()
    return await rows_snapshot(world.app.state.database, Team, Role, Membership, Invitation)


async def build(world: Any) -> tuple[Setup, dict[str, Any]]:
    leader = await world.person()
    team = await world.team(leader)
    people = {"Team Leader": leader}
    for role in ROLES[1:5]:
        people[role] = await world.join(team["id"], leader, role)
    people["outsider"] = await world.person()
    target = await world.join(team["id"], leader, "Viewer")
    roles = await world.roles(team["id"], leader.headers)
    custom = await world.client.post(
        f"/api/v1/teams/{team['id']}/roles",
        headers=leader.headers,
        json={"name": "Custom", "permissions": ["comments.create"]},
    )
    invitation, _ = await world.invite(team["id"], leader, "pending@example.com", roles["Viewer"])
    await world.settle()
    return Setup(team["id"], roles, target, custom.json()["id"], invitation["id"]), people


@pytest.mark.parametrize("route", ROUTES, ids=[r[0] for r in ROUTES])
async def test_permission_matrix(world: Any, route: tuple[str, Request, set[str], int]) -> None:
    name, make_request, allowed, success = route

    async def prepare() -> tuple[Any, Any]:
        setup, people = await build(world)
        method, path, body = make_request(setup)

        async def send_as(role: str) -> Any:
            return await world.client.request(method, path, headers=people[role].headers, json=body)

        return send_as, lambda: snapshot(world)

    failures = await permission_matrix(ROLES, allowed, success, prepare)
    assert not failures, f"{name}:\n" + "\n".join(failures)
