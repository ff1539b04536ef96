"""``make dev`` refuses an ended session at every service, also after a restart.

In one process the services hear auth's ``tokens.revoked`` events on the in-memory
bus and, when they start, load what auth still holds through auth's app itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from taskflow_chassis.testing import app_running
from taskflow_embedded.main import Dispatcher

PASSWORD = "correct-horse-battery"
# A GET each service answers to any signed-in user, through the gateway's paths.
PATHS = ("/api/v1/teams", "/api/v1/projects", "/api/v1/notifications")


@asynccontextmanager
async def running(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TASKFLOW_EVENT_BUS_URL", f"memory://revocation-{data_dir.name}")
    # One key across restarts, as a configured deployment has.
    monkeypatch.setenv("TASKFLOW_INTERNAL_API_KEY", "embedded-test-key")
    dispatcher = Dispatcher()
    async with app_running(dispatcher):
        transport = httpx.ASGITransport(app=dispatcher)
        async with httpx.AsyncClient(transport=transport, base_url="http://dev") as client:
            yield client


async def answers(client: httpx.AsyncClient, token: str) -> set[int]:
    headers = {"Authorization": f"Bearer {token}"}
    return {(await client.get(path, headers=headers)).status_code for path in PATHS}


async def test_a_logged_out_token_is_refused_everywhere_and_after_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(tmp_path, monkeypatch) as client:
        signed_up = await client.post(
            "/api/v1/auth/users",
            json={"username": "erin", "email": "erin@example.com", "password": PASSWORD},
        )
        assert signed_up.status_code == 201, signed_up.text
        pair = (
            await client.post(
                "/api/v1/auth/jwt/create", json={"username": "erin", "password": PASSWORD}
            )
        ).json()
        assert 401 not in await answers(client, pair["access"])
        logged_out = await client.post(
            "/api/v1/auth/jwt/revoke",
            headers={"Authorization": f"Bearer {pair['access']}"},
            json={"refresh": pair["refresh"]},
        )
        assert logged_out.status_code == 204
        for _ in range(100):  # the relay publishes on commit; handlers run a moment later
            if await answers(client, pair["access"]) == {401}:
                break
            await asyncio.sleep(0.02)
        assert await answers(client, pair["access"]) == {401}

    async with running(tmp_path, monkeypatch) as client:
        assert await answers(client, pair["access"]) == {401}  # loaded from auth at start
