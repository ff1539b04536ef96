"""The audit pages through teams' public API (GET /api/v1/audit, GET
/api/v1/teams/{id}/audit): a page of entries as view models, with the next page's cursor."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from taskflow_web.api.service import Api
from taskflow_web.audit import rules
from taskflow_web.audit.schemas import Filters
from taskflow_web.teams import service as teams

OWN = "/api/v1/audit"
PAGE_SIZE = 25


@dataclass(frozen=True)
class Entry:
    """One entry as a log shows it."""

    id: str
    kind: str
    label: str
    occurred_at: str
    when: str
    actor: str
    subject: str
    team_id: str | None
    summary: str
    address: str
    user_agent: str


def entry_of(found: dict[str, Any], viewer: str | None) -> Entry:
    stamp = str(found.get("occurred_at") or "")
    kind = str(found.get("kind") or "")
    return Entry(
        id=str(found["id"]),
        kind=kind,
        label=rules.KINDS.get(kind, kind),
        occurred_at=stamp,
        when=rules.when(stamp),
        actor=rules.person(found.get("actor"), viewer),
        subject=rules.person(found.get("subject"), viewer),
        team_id=str(found["team_id"]) if found.get("team_id") else None,
        summary=rules.summary(kind, found.get("details") or {}),
        address=str(found.get("address") or ""),
        user_agent=str(found.get("user_agent") or ""),
    )


@dataclass
class Log:
    entries: list[Entry] = field(default_factory=list)
    next_cursor: str | None = None


async def _log(api: Api, path: str, filters: Filters, cursor: str | None) -> Log:
    params: dict[str, Any] = {"limit": PAGE_SIZE, **filters.params()}
    if cursor:
        params["cursor"] = cursor
    page: dict[str, Any] = await api.get(path, params=params)
    viewer = str(api.session.user_id) if api.session.user_id else None
    return Log([entry_of(e, viewer) for e in page.get("items", [])], page.get("next_cursor"))


async def own_log(api: Api, filters: Filters, cursor: str | None) -> Log:
    """The caller's own entries (what they did, what concerned them)."""
    return await _log(api, OWN, filters, cursor)


def team_audit_path(team_id: uuid.UUID) -> str:
    return f"{teams.team_path(team_id)}/audit"


async def team_log(api: Api, team_id: uuid.UUID, filters: Filters, cursor: str | None) -> Log:
    """The team's entries: 404 for someone not in the team, 403 for a member without
    ``audit.read`` (the API's)."""
    return await _log(api, team_audit_path(team_id), filters, cursor)


@dataclass
class TeamHeader:
    """What the team's log shows around the entries: the team, and its members to choose
    an actor from."""

    team: dict[str, Any]
    members: list[dict[str, Any]]


async def team_header(api: Api, team_id: uuid.UUID) -> TeamHeader:
    team: dict[str, Any] = await api.get(teams.team_path(team_id))
    page: dict[str, Any] = await api.get(
        f"{teams.team_path(team_id)}/members", params={"limit": teams.PAGE_SIZE}
    )
    return TeamHeader(team=team, members=list(page.get("items", [])))
