"""A team's webhooks through notify's public API (/api/v1/teams/{id}/webhooks), as the
pages show them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from taskflow_web.api.service import Api
from taskflow_web.teams.service import if_match
from taskflow_web.webhooks import rules

# A page of the deliveries log.
DELIVERIES_PAGE = 25


def webhooks_path(team_id: uuid.UUID) -> str:
    return f"/api/v1/teams/{team_id}/webhooks"


def endpoint_path(team_id: uuid.UUID, webhook_id: uuid.UUID) -> str:
    return f"{webhooks_path(team_id)}/{webhook_id}"


@dataclass
class WebhooksView:
    """The list page: the team, the endpoints, and the types one may subscribe to."""

    team: dict[str, Any]
    endpoints: list[dict[str, Any]]
    event_types: list[str]


@dataclass
class EndpointView:
    team: dict[str, Any]
    endpoint: dict[str, Any]
    event_types: list[str]
    etag: str = ""  # the endpoint's, for the forms' If-Match
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None


async def event_types(api: Api, team_id: uuid.UUID) -> list[str]:
    answer: dict[str, Any] = await api.get(f"{webhooks_path(team_id)}/event-types")
    found: list[str] = answer.get("event_types", [])
    return found


async def overview(api: Api, team_id: uuid.UUID) -> WebhooksView:
    # The webhooks first: their 404 (not a member) and 403 (no webhooks.manage) are the page's.
    listed: dict[str, Any] = await api.get(webhooks_path(team_id))
    endpoints: list[dict[str, Any]] = listed.get("items", [])
    team: dict[str, Any] = await api.get(f"/api/v1/teams/{team_id}")
    return WebhooksView(team, endpoints, await event_types(api, team_id))


async def endpoint_view(
    api: Api, team_id: uuid.UUID, webhook_id: uuid.UUID, cursor: str | None = None
) -> EndpointView:
    endpoint, tag = await api.get_tagged(endpoint_path(team_id, webhook_id))
    team: dict[str, Any] = await api.get(f"/api/v1/teams/{team_id}")
    params: dict[str, Any] = {"limit": DELIVERIES_PAGE}
    if cursor:
        params["cursor"] = cursor
    page: dict[str, Any] = await api.get(
        f"{endpoint_path(team_id, webhook_id)}/deliveries", params=params
    )
    return EndpointView(
        team,
        endpoint,
        await event_types(api, team_id),
        etag=tag or "",
        deliveries=page.get("items", []),
        next_cursor=page.get("next_cursor"),
    )


async def create(
    api: Api, team_id: uuid.UUID, url: str, description: str, types: list[str]
) -> dict[str, Any]:
    created: dict[str, Any] = await api.post(
        webhooks_path(team_id),
        json={"url": url, "description": description, "event_types": rules.chosen_types(types)},
    )
    return created


async def update(
    api: Api, team_id: uuid.UUID, webhook_id: uuid.UUID, changes: dict[str, Any], tag: str
) -> dict[str, Any]:
    updated: dict[str, Any] = await api.call(
        "PATCH", endpoint_path(team_id, webhook_id), json=changes, headers=if_match(tag)
    )
    return updated


async def rotate(api: Api, team_id: uuid.UUID, webhook_id: uuid.UUID) -> dict[str, Any]:
    rotated: dict[str, Any] = await api.post(f"{endpoint_path(team_id, webhook_id)}/rotate-secret")
    return rotated


async def delete(api: Api, team_id: uuid.UUID, webhook_id: uuid.UUID, tag: str) -> None:
    await api.call("DELETE", endpoint_path(team_id, webhook_id), headers=if_match(tag))


async def redeliver(
    api: Api, team_id: uuid.UUID, webhook_id: uuid.UUID, delivery_id: uuid.UUID
) -> dict[str, Any]:
    path = f"{endpoint_path(team_id, webhook_id)}/deliveries/{delivery_id}/redeliver"
    redone: dict[str, Any] = await api.post(path)
    return redone
