"""Invitations through teams' public API: a team's open ones (sent, resent, revoked with
``members.invite``), and the caller's answer to an emailed link (accept, decline)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.api.service import Api
from taskflow_web.teams import rules
from taskflow_web.teams import service as teams

MINE = "/api/v1/invitations"
# The invitations a team can still act on: resend revives an expired one.
OPEN = ("pending", "expired")


def team_invitations_path(team_id: uuid.UUID) -> str:
    return f"{teams.team_path(team_id)}/invitations"


@dataclass
class InvitationsView:
    """A team's open invitations, and the roles the caller may invite with."""

    team: dict[str, Any]
    me: dict[str, Any]
    invitations: list[dict[str, Any]] = field(default_factory=list)
    roles: list[Any] = field(default_factory=list)


async def team_view(api: Api, team_id: uuid.UUID) -> InvitationsView:
    """404 for someone not in the team, 403 for a member who may not invite (the API's)."""
    me = await teams.my_membership(api, team_id)
    team = await api.get(teams.team_path(team_id))
    found: list[dict[str, Any]] = []
    for status in OPEN:
        page: dict[str, Any] = await api.get(
            team_invitations_path(team_id), params={"status": status, "limit": teams.PAGE_SIZE}
        )
        found.extend(page.get("items", []))
    permissions = frozenset(me.get("permissions", []))
    roles = rules.grantable_roles(await teams.roles(api, team_id), permissions)
    return InvitationsView(team=team, me=me, invitations=teams.tagged(found), roles=roles)


async def invite(api: Api, team_id: uuid.UUID, email: str, role_id: str) -> dict[str, Any]:
    sent: dict[str, Any] = await api.post(
        team_invitations_path(team_id), json={"email": email, "role_id": role_id}
    )
    return sent


async def resend(api: Api, team_id: uuid.UUID, invitation_id: uuid.UUID) -> dict[str, Any]:
    sent: dict[str, Any] = await api.post(
        f"{team_invitations_path(team_id)}/{invitation_id}/resend"
    )
    return sent


async def revoke(api: Api, team_id: uuid.UUID, invitation_id: uuid.UUID, tag: str) -> None:
    await api.call(
        "DELETE", f"{team_invitations_path(team_id)}/{invitation_id}", headers=teams.if_match(tag)
    )


async def waiting_for_me(api: Api) -> list[dict[str, Any]]:
    """The pending invitations to the caller's address; none while it is unverified (the
    API's 403: the page says what to do instead)."""
    try:
        page: dict[str, Any] = await api.get(MINE, params={"limit": teams.PAGE_SIZE})
    except ApiProblem as problem:
        if problem.status == 403:
            return []
        raise
    items: list[dict[str, Any]] = page.get("items", [])
    return items


async def accept(api: Api, token: str) -> dict[str, Any]:
    """The accepted invitation (its team_id is the team joined)."""
    accepted: dict[str, Any] = await api.post(f"{MINE}/accept", json={"token": token})
    return accepted


async def decline(api: Api, token: str) -> dict[str, Any]:
    declined: dict[str, Any] = await api.post(f"{MINE}/decline", json={"token": token})
    return declined
