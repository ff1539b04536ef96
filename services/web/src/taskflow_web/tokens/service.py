"""The signed-in person's personal API tokens, through auth's public API (/api/v1/tokens)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from taskflow_web.api.service import Api
from taskflow_web.teams.service import my_teams

TOKENS = "/api/v1/tokens"
# Tokens shown at once: the API holds at most 100 a person.
PAGE_SIZE = 100


@dataclass
class TokensView:
    tokens: list[dict[str, Any]]
    teams: list[dict[str, Any]]


async def overview(api: Api) -> TokensView:
    page: dict[str, Any] = await api.get(TOKENS, params={"limit": PAGE_SIZE})
    return TokensView(page.get("items", []), await my_teams(api))


async def create(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    created: dict[str, Any] = await api.post(TOKENS, json=body)
    return created


async def revoke(api: Api, token_id: uuid.UUID) -> None:
    await api.delete(f"{TOKENS}/{token_id}")
