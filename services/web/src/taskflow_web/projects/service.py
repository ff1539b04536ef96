"""A team's projects, through work's public API, and the caller's membership of the team
(teams' ``members/me``: the role's permissions decide which actions a page shows; the API
still decides, with its 403 and 404)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from taskflow_chassis.etags import etag_of

from taskflow_web.api.service import Api

TEAMS = "/api/v1/teams"
PROJECTS = "/api/v1/projects"
LIST_LIMIT = 200  # the API's largest page


@dataclass(frozen=True)
class Membership:
    """The caller in one team: who they are and what their role lets them do."""

    user_id: str
    role_name: str
    permissions: frozenset[str] = field(default_factory=frozenset)

    def may(self, permission: str) -> bool:
        return permission in self.permissions


def version_of(item: dict[str, Any]) -> str:
    """The ``ETag`` the API gives this resource on its own GET: a hash of the same JSON a
    list answers for it, so a list's row can be changed with ``If-Match`` too."""
    return etag_of(item)


async def membership(api: Api, team_id: uuid.UUID | str) -> Membership:
    """The caller's membership (404 to an outsider, raised as ``ApiProblem``)."""
    me: dict[str, Any] = await api.get(f"{TEAMS}/{team_id}/members/me")
    return Membership(
        str(me["user_id"]), str(me.get("role_name") or ""), frozenset(me["permissions"])
    )


async def team(api: Api, team_id: uuid.UUID) -> dict[str, Any]:
    found: dict[str, Any] = await api.get(f"{TEAMS}/{team_id}")
    return found


async def members(api: Api, team_id: uuid.UUID | str) -> list[dict[str, Any]]:
    page: dict[str, Any] = await api.get(f"{TEAMS}/{team_id}/members", {"limit": LIST_LIMIT})
    items: list[dict[str, Any]] = page.get("items", [])
    return items


async def projects(api: Api, team_id: uuid.UUID) -> list[dict[str, Any]]:
    """The team's projects, open ones first, each with its version for ``If-Match``."""
    page: dict[str, Any] = await api.get(PROJECTS, {"team_id": str(team_id), "limit": LIST_LIMIT})
    items: list[dict[str, Any]] = page.get("items", [])
    shown = [{**item, "version": version_of(item)} for item in items]
    return sorted(shown, key=lambda item: (item["archived"], item["name"].casefold()))


async def project(api: Api, project_id: uuid.UUID) -> tuple[dict[str, Any], str | None]:
    found, tag = await api.get_tagged(f"{PROJECTS}/{project_id}")
    return found, tag


async def create_project(
    api: Api, team_id: uuid.UUID, name: str, description: str
) -> dict[str, Any]:
    body: dict[str, Any] = {"team_id": str(team_id), "name": name}
    if description.strip():
        body["description"] = description
    created: dict[str, Any] = await api.post(PROJECTS, body)
    return created


async def set_archived(
    api: Api, project_id: uuid.UUID, archived: bool, version: str
) -> dict[str, Any]:
    changed: dict[str, Any] = await api.call(
        "PATCH",
        f"{PROJECTS}/{project_id}",
        json={"archived": archived},
        headers=if_match(version),
    )
    return changed


async def delete_project(api: Api, project_id: uuid.UUID, version: str) -> None:
    await api.call("DELETE", f"{PROJECTS}/{project_id}", headers=if_match(version))


async def restore_project(api: Api, project_id: uuid.UUID) -> dict[str, Any]:
    restored: dict[str, Any] = await api.post(f"{PROJECTS}/{project_id}/restore")
    return restored


def if_match(version: str) -> dict[str, str]:
    """The precondition of a change made from a page: the version the page showed (no
    version: the change is made whatever the resource is now)."""
    return {"If-Match": version or "*"}
