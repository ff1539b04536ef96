"""Web's kept pages on the distributed runtime (two web processes, RabbitMQ, Redis, the
gateway emulator): a page kept per person is asked again once the event about its data
reaches web, whichever of web's processes took the event (the generations live in
Redis), and a member the team removed gets the API's 404, not the kept board."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import redis.asyncio as redis

from .conftest import System, WebBrowser, running_system, team_with_member

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(300)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    options: dict[str, Any] = {"extra_env": {"WEB_WORKERS": "2"}}
    async with running_system(tmp_path_factory.mktemp("stack"), gateway=True, **options) as up:
        yield up


async def _generation(system: System, name: str) -> int:
    client = redis.Redis.from_url(system.stack.redis_url)
    try:
        value = await client.get(f"{system.stack.name}:web:generation:{name}")
    finally:
        await client.aclose()
    return int(value or 0)


async def test_a_kept_board_follows_events_and_membership(system: System) -> None:
    team = await team_with_member(system, "cachelead", "cachedev")
    task, client = team["task"], system.client
    board_path = f"/projects/{task['project_id']}"
    async with WebBrowser(system) as dev:
        assert await dev.sign_in(f"/login?next={board_path}", "cachedev") == board_path
        for _ in range(6):  # both of web's processes keep it (connections are spread)
            board = await dev.get(board_path)
            assert board.status_code == 200 and task["title"] in board.text, board.text[:300]

        renamed = await client.patch(
            f"/api/v1/tasks/{task['id']}", headers=team["lead"], json={"title": "Renamed task"}
        )
        assert renamed.status_code == 200, renamed.text

        async def shows_rename() -> bool:
            pages = [await dev.get(board_path) for _ in range(4)]  # whichever process
            return all("Renamed task" in page.text for page in pages)

        await system.wait_for(shows_rename, seconds=30, what="the rename on the kept board")
        assert await _generation(system, f"project:{task['project_id']}") >= 1

        dev_id = (await client.get("/api/v1/auth/users/me", headers=team["dev"])).json()["id"]
        removed = await client.delete(
            f"/api/v1/teams/{team['team']['id']}/members/{dev_id}", headers=team["lead"]
        )
        assert removed.status_code == 204, removed.text

        async def refused() -> bool:
            pages = [await dev.get(board_path) for _ in range(4)]
            return all(page.status_code == 404 for page in pages)

        await system.wait_for(refused, seconds=30, what="the removed member's 404")
        assert await _generation(system, f"person:{dev_id}") >= 1
