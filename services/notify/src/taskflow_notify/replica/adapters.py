"""Teams' internal API as notify's replica reads it: a team's members with their roles and
permissions.

Memberships applied before notify kept permissions (replica rows from before migration
0010) have none; the backfill (replica/scheduled.py) asks teams for each such team, with
the internal API key (``X-Service-Key``) at ``NOTIFY_TEAMS_URL``, and keeps the answer. No
request of a user waits on teams.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
from pydantic import SecretStr


class TeamsUnavailable(Exception):
    """Teams could not answer (down, no key, key refused): the route answers 503."""


@dataclass(frozen=True)
class Grant:
    role_id: uuid.UUID
    permissions: list[str]


class TeamsGrants:
    def __init__(self, client: httpx.AsyncClient, key: SecretStr) -> None:
        self.client = client
        self.key = key

    async def members(self, team_id: uuid.UUID) -> dict[uuid.UUID, Grant] | None:
        """The team's members' roles and permissions as teams holds them; None: no such
        team."""
        key = self.key.get_secret_value()
        if not key:
            raise TeamsUnavailable("no internal API key (TASKFLOW_INTERNAL_API_KEY)")
        try:
            response = await self.client.get(
                f"/internal/v1/memberships/{team_id}", headers={"X-Service-Key": key}
            )
        except httpx.HTTPError as exc:
            raise TeamsUnavailable(f"teams unreachable: {exc!r}") from exc
        if response.status_code == 404 and "team-not-found" in response.text:
            return None
        if response.status_code != 200:
            raise TeamsUnavailable(f"teams answered {response.status_code}")
        return {
            uuid.UUID(member["user_id"]): Grant(
                uuid.UUID(member["role_id"]), list(member["permissions"])
            )
            for member in response.json().get("members", [])
        }
