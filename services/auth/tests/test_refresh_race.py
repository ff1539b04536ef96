"""A refresh token is used once, whatever arrives at the same instant: on PostgreSQL,
MariaDB and SQLite (`make dev`), the same token sent twice at once gives one new pair
and one 401, the family is revoked (the loser counts as reuse), and nothing answers 500."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from taskflow_chassis.testing import fresh_mysql_database, fresh_postgres_database

ROUNDS = 12


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"
        return
    fresh = fresh_postgres_database if request.param == "postgres" else fresh_mysql_database
    async with fresh("taskflow_auth_race") as url:
        yield url


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/jwt/refresh", json={"refresh": token})


async def test_one_refresh_token_sent_twice_at_once_wins_once_and_revokes_the_family(
    client: httpx.AsyncClient, api: Any
) -> None:
    await api.sign_up("racer")
    for round_ in range(ROUNDS):
        tokens = await api.log_in("racer")
        answers = await asyncio.gather(*(refresh(client, tokens["refresh"]) for _ in range(2)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 401], (round_, [a.text for a in answers])
        winner = next(a for a in answers if a.status_code == 200).json()
        # The loser was reuse: the whole family died, the winner's new token with it.
        assert (await refresh(client, winner["refresh"])).status_code == 401, round_


async def test_many_copies_at_once_still_one_winner(client: httpx.AsyncClient, api: Any) -> None:
    await api.sign_up("crowd")
    for round_ in range(4):
        tokens = await api.log_in("crowd")
        answers = await asyncio.gather(*(refresh(client, tokens["refresh"]) for _ in range(5)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 401, 401, 401, 401], (round_, [a.text for a in answers])
