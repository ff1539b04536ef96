"""The signed-in person's teams, through teams' public API."""

from __future__ import annotations

from typing import Any

from taskflow_web.api.service import Api

TEAMS = "/api/v1/teams"


async def my_teams(api: Api) -> list[dict[str, Any]]:
    page: dict[str, Any] = await api.get(TEAMS, params={"limit": 100})
    items: list[dict[str, Any]] = page.get("items", [])
    return items
