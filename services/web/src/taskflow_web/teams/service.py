"""Teams, members and roles through teams' public API (/api/v1/teams, /api/v1/permissions),
mapped to what the pages show. Every write of something shown with a tag sends it back as
``If-Match``; a member's and a role's tag is the hash of the JSON the list answered (the
API's tag is defined as exactly that: equal JSON, equal tag)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from taskflow_chassis.etags import etag_of

from taskflow_web.api.adapters import ApiProblem
from taskflow_web.api.service import Api
from taskflow_web.pages.service import Form
from taskflow_web.teams import rules

TEAMS = "/api/v1/teams"
PERMISSIONS = "/api/v1/permissions"
# A page shows this many members or roles; more members are a "more" link away.
PAGE_SIZE = 100


def team_path(team_id: uuid.UUID) -> str:
    return f"{TEAMS}/{team_id}"


def if_match(tag: str) -> dict[str, str]:
    """The precondition of a form's write: the tag it was shown with (none: unconditional)."""
    return {"If-Match": tag} if tag else {}


def tagged(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each item of a list with its ``etag``, as the API tags the same item on its own."""
    return [{**item, "etag": etag_of(item)} for item in items]


def failed(values: Mapping[str, Any], problem: ApiProblem, fields: tuple[str, ...] = ()) -> Form:
    """A form's values as typed with the API's problem: beside the fields, and at the top in
    words the person acts on."""
    form = Form.of(values).fail(problem, fields)
    form.detail = rules.problem_detail(problem)
    return form


@dataclass
class TeamView:
    """One team as its overview shows it: the caller's membership (role, permissions),
    a page of members, and the roles the caller may hand out."""

    team: dict[str, Any]
    etag: str
    me: dict[str, Any]
    members: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None
    roles: list[Mapping[str, Any]] = field(default_factory=list)

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(self.me.get("permissions", []))

    def can(self, permission: str) -> bool:
        return permission in self.permissions


async def my_teams(api: Api) -> list[dict[str, Any]]:
    page: dict[str, Any] = await api.get(TEAMS, params={"limit": PAGE_SIZE})
    items: list[dict[str, Any]] = page.get("items", [])
    return items


async def create_team(api: Api, name: str, description: str) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name}
    if description:
        body["description"] = description
    created: dict[str, Any] = await api.post(TEAMS, json=body)
    return created


async def my_membership(api: Api, team_id: uuid.UUID) -> dict[str, Any]:
    """The caller's role and permissions in the team (404: not a member)."""
    me: dict[str, Any] = await api.get(f"{team_path(team_id)}/members/me")
    return me


async def roles(api: Api, team_id: uuid.UUID) -> list[dict[str, Any]]:
    page: dict[str, Any] = await api.get(f"{team_path(team_id)}/roles", params={"limit": PAGE_SIZE})
    return tagged(page.get("items", []))


async def overview(api: Api, team_id: uuid.UUID, cursor: str | None = None) -> TeamView:
    team, tag = await api.get_tagged(team_path(team_id))
    me = await my_membership(api, team_id)
    params: dict[str, Any] = {"limit": PAGE_SIZE}
    if cursor:
        params["cursor"] = cursor
    page: dict[str, Any] = await api.get(f"{team_path(team_id)}/members", params=params)
    view = TeamView(
        team=team,
        etag=tag or "",
        me=me,
        members=tagged(page.get("items", [])),
        next_cursor=page.get("next_cursor"),
    )
    if view.can(rules.MEMBERS_MANAGE):
        view.roles = rules.grantable_roles(await roles(api, team_id), view.permissions)
    return view


async def update_team(api: Api, team_id: uuid.UUID, name: str, description: str, tag: str) -> None:
    await api.call(
        "PATCH",
        team_path(team_id),
        json={"name": name, "description": description or None},
        headers=if_match(tag),
    )


async def delete_team(api: Api, team_id: uuid.UUID, tag: str) -> None:
    """A soft delete: restorable for 30 days (by someone holding team.delete)."""
    await api.call("DELETE", team_path(team_id), headers=if_match(tag))


async def restore_team(api: Api, team_id: uuid.UUID) -> dict[str, Any]:
    restored: dict[str, Any] = await api.post(f"{team_path(team_id)}/restore")
    return restored


async def change_member_role(
    api: Api, team_id: uuid.UUID, user_id: uuid.UUID, role_id: str, tag: str
) -> None:
    await api.call(
        "PATCH",
        f"{team_path(team_id)}/members/{user_id}",
        json={"role_id": role_id},
        headers=if_match(tag),
    )


async def remove_member(api: Api, team_id: uuid.UUID, user_id: uuid.UUID, tag: str) -> None:
    """Someone else (members.manage), or the caller themself: leaving the team."""
    await api.call("DELETE", f"{team_path(team_id)}/members/{user_id}", headers=if_match(tag))


async def catalogue(api: Api) -> list[dict[str, Any]]:
    """Every permission with its description, in the catalogue's order."""
    answer: dict[str, Any] = await api.get(PERMISSIONS)
    found: list[dict[str, Any]] = answer.get("permissions", [])
    return found


async def create_role(api: Api, team_id: uuid.UUID, name: str, permissions: list[str]) -> None:
    await api.post(f"{team_path(team_id)}/roles", json={"name": name, "permissions": permissions})


async def update_role(
    api: Api,
    team_id: uuid.UUID,
    role_id: uuid.UUID,
    name: str,
    permissions: list[str],
    tag: str,
) -> None:
    await api.call(
        "PATCH",
        f"{team_path(team_id)}/roles/{role_id}",
        json={"name": name, "permissions": permissions},
        headers=if_match(tag),
    )


async def delete_role(api: Api, team_id: uuid.UUID, role_id: uuid.UUID, tag: str) -> None:
    await api.call("DELETE", f"{team_path(team_id)}/roles/{role_id}", headers=if_match(tag))
