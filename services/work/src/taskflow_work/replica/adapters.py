"""Teams' internal API as work's replica reads it: a team's memberships, every team's seq,
everyone's names.

The source of truth the replica is resynced and rebuilt from. Reached with the
internal API key (``X-Service-Key``) on the same client and base URL as the
membership read-through (``WORK_TEAMS_URL``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import SecretStr

SERVICE_KEY_HEADER = "X-Service-Key"
PAGE_SIZE = 500


class TeamsUnavailable(Exception):
    """Teams could not answer (down, no key, key refused): try again later."""


@dataclass(frozen=True)
class MemberGrant:
    user_id: uuid.UUID
    role_id: uuid.UUID
    role_name: str
    permissions: frozenset[str]


@dataclass(frozen=True)
class TeamSnapshot:
    """A team's members as teams holds them after its membership event number ``seq``."""

    team_id: uuid.UUID
    name: str
    seq: int
    members: tuple[MemberGrant, ...]


@dataclass(frozen=True)
class PersonNames:
    """A person's names as teams holds them; ``updated_at``: when teams last changed them."""

    user_id: uuid.UUID
    username: str
    display_name: str | None
    updated_at: datetime


class TeamsApi:
    def __init__(self, client: httpx.AsyncClient | None, key: SecretStr) -> None:
        self.client = client
        self.key = key

    def _ready(self) -> httpx.AsyncClient:
        if self.client is None:
            raise TeamsUnavailable("no client for teams")
        if not self.key.get_secret_value():
            raise TeamsUnavailable(
                "no internal API key (set WORK_INTERNAL_API_KEY or TASKFLOW_INTERNAL_API_KEY"
                " to teams' key)"
            )
        return self.client

    async def _get(self, path: str, params: dict[str, str | int] | None = None) -> httpx.Response:
        client = self._ready()
        try:
            response = await client.get(
                path, params=params, headers={SERVICE_KEY_HEADER: self.key.get_secret_value()}
            )
        except httpx.HTTPError as exc:
            raise TeamsUnavailable(f"teams unreachable: {exc!r}") from exc
        if response.status_code == 401:
            raise TeamsUnavailable("teams refused the internal API key")
        return response

    async def memberships(self, team_id: uuid.UUID) -> TeamSnapshot | None:
        """The team's memberships, or None when teams has no such team (deleted)."""
        response = await self._get(f"/internal/v1/memberships/{team_id}")
        if response.status_code == 404 and _problem_type(response).endswith("/team-not-found"):
            return None
        if response.status_code != 200:
            # A bare 404 is an internal API switched off (no key in teams): not "gone".
            raise TeamsUnavailable(f"teams answered {response.status_code} for team {team_id}")
        body = response.json()
        return TeamSnapshot(
            team_id=uuid.UUID(body["team_id"]),
            name=str(body["name"]),
            seq=int(body["seq"]),
            members=tuple(
                MemberGrant(
                    user_id=uuid.UUID(m["user_id"]),
                    role_id=uuid.UUID(m["role_id"]),
                    role_name=str(m["role_name"]),
                    permissions=frozenset(m["permissions"]),
                )
                for m in body["members"]
            ),
        )

    async def team_seqs(
        self, page_size: int = PAGE_SIZE
    ) -> AsyncIterator[list[tuple[uuid.UUID, int]]]:
        """Every team's (id, seq), a page at a time (keyset, in teams' order of ids)."""
        async for items in self._pages("/internal/v1/memberships", "the team list", page_size):
            yield [(uuid.UUID(i["team_id"]), int(i["seq"])) for i in items]

    async def people(self, page_size: int = PAGE_SIZE) -> AsyncIterator[list[PersonNames]]:
        """Everyone's names teams knows, a page at a time (keyset, in teams' order of ids)."""
        async for items in self._pages("/internal/v1/people", "the people", page_size):
            yield [
                PersonNames(
                    user_id=uuid.UUID(i["user_id"]),
                    username=str(i["username"]),
                    display_name=i["display_name"],
                    updated_at=_utc(datetime.fromisoformat(i["updated_at"])),
                )
                for i in items
            ]

    async def _pages(
        self, path: str, what: str, page_size: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        after: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": page_size}
            if after is not None:
                params["after"] = after
            response = await self._get(path, params)
            if response.status_code != 200:
                raise TeamsUnavailable(f"teams answered {response.status_code} for {what}")
            body = response.json()
            yield list(body["items"])
            after = body.get("next_after")
            if not after:
                return


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _problem_type(response: httpx.Response) -> str:
    try:
        return str(response.json().get("type", ""))
    except ValueError:
        return ""
