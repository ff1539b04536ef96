"""The write scenarios' own parts: the yardstick's server (a bare insert + outbox row on
PostgreSQL, skipped where missing, failed when CI is set), the create's share of it, and
the bulk change's clients (against a stand-in for work's bulk route)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the bench's modules

import yardstick
from measure import Result
from scenarios import BULK_STATUSES, bulk_load, share_of_yardstick, yardstick_server
from taskflow_chassis.testing import app_running, fresh_postgres_database


@pytest.fixture
async def database_url() -> AsyncIterator[str]:
    async with fresh_postgres_database("taskflow_bench_yardstick") as url:
        yield url.replace("postgresql+asyncpg://", "postgresql://")


def result(name: str, per_second: float) -> Result:
    return Result(name, 1000, per_second, 1, 2, 3, 4, int(per_second * 10), 0)


def test_the_create_is_judged_by_its_share_of_the_yardstick() -> None:
    create = result("create a task with an assignee", 300)
    share_of_yardstick(create, result("bare insert + outbox row (yardstick)", 500))
    assert create.extra == {"share_of_yardstick": 0.6, "share_target_met": True}
    slow = result("create a task with an assignee", 200)
    share_of_yardstick(slow, result("bare insert + outbox row (yardstick)", 500))
    assert slow.extra == {"share_of_yardstick": 0.4, "share_target_met": False}


async def test_the_yardstick_writes_the_task_and_its_outbox_row_in_one_transaction(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await yardstick.create_tables(database_url)
    await yardstick.create_tables(database_url)  # again: harmless
    monkeypatch.setenv("YARDSTICK_DATABASE_URL", database_url)
    assignee = uuid.uuid4()
    async with app_running(yardstick.app):
        transport = httpx.ASGITransport(app=yardstick.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            body = {"title": "Bench task", "priority": "high", "assignee_ids": [str(assignee)]}
            answer = await client.post("/tasks", json=body)
            refused = await client.post("/tasks", json={**body, "colour": "red"})
            # A task whose outbox row fails (an event id taken) is not written either.
            ids = iter([uuid.uuid4(), uuid.UUID(int=7), uuid.uuid4(), uuid.UUID(int=7)])
            monkeypatch.setattr(yardstick, "uuid", _Ids(ids))
            second = await client.post("/tasks", json=body)
            with pytest.raises(asyncpg.UniqueViolationError):
                await client.post("/tasks", json=body)
    assert answer.status_code == 201, answer.text
    assert refused.status_code == 422  # unknown fields refused, as work's inputs do
    created = answer.json()
    conn = await asyncpg.connect(database_url)
    try:
        tasks = await conn.fetch("SELECT id, title, assignee_ids FROM yardstick_tasks")
        outbox = await conn.fetch("SELECT type, payload FROM yardstick_outbox")
    finally:
        await conn.close()
    assert second.status_code == 201
    assert sorted(str(row["id"]) for row in tasks) == sorted([created["id"], second.json()["id"]])
    assert json.loads(tasks[0]["assignee_ids"]) == [str(assignee)]
    assert len(outbox) == 2
    row = next(row for row in outbox if created["id"] in row["payload"])
    event = json.loads(row["payload"])
    assert row["type"] == event["type"] == yardstick.EVENT_TYPE
    assert event["data"]["id"] == created["id"] and event["time"] == event["data"]["created_at"]


async def test_the_yardstick_server_runs_under_uvicorn_and_stops(
    database_url: str, tmp_path: Path
) -> None:
    await yardstick.create_tables(database_url)
    log = tmp_path / "yardstick.log"

    def serve_one() -> None:
        with yardstick_server(database_url, 1, log) as (url, pid):
            answer = httpx.post(f"{url}/tasks", json={"title": "One"}, timeout=10)
            assert answer.status_code == 201, answer.text
            assert Path(f"/proc/{pid}").exists()
        assert not Path(f"/proc/{pid}").exists()  # stopped and reaped

    await asyncio.to_thread(serve_one)


class _Ids:
    """Stands in for the yardstick's ``uuid`` module: ids from a list, in order."""

    UUID = uuid.UUID

    def __init__(self, ids: Iterator[uuid.UUID]) -> None:
        self.ids = ids

    def uuid4(self) -> uuid.UUID:
        return next(self.ids)


def bulk_stand_in() -> tuple[FastAPI, list[dict[str, Any]]]:
    """Answers like work's bulk route: tasks already in the status asked are unchanged."""
    app = FastAPI()
    statuses: dict[str, str] = {}
    seen: list[dict[str, Any]] = []

    @app.post("/api/v1/tasks/bulk")
    async def bulk(request: Request) -> Any:
        body = await request.json()
        seen.append({**body, "token": request.headers["authorization"]})
        wanted = body["changes"]["status"]
        changed = [t for t in body["task_ids"] if statuses.get(t) != wanted]
        statuses.update(dict.fromkeys(body["task_ids"], wanted))
        return {"changed": changed, "unchanged": []}

    return app, seen


async def test_bulk_clients_change_every_task_of_their_own_slice_each_request() -> None:
    app, seen = bulk_stand_in()
    slices = [[f"a{n}" for n in range(3)], [f"b{n}" for n in range(3)]]
    tokens = iter(f"token-{n}" for n in range(10_000))
    outcome = await bulk_load(
        "http://work/api/v1/tasks/bulk",
        lambda: next(tokens),
        slices,
        0.5,
        transport=httpx.ASGITransport(app=app),
    )
    assert outcome.statuses == {}
    assert len(outcome.latencies_ms) == len(seen) >= 4
    # Each request changed all it named: the status alternates per client.
    assert outcome.tasks_changed == 3 * len(seen)
    for task_slice in slices:
        mine = [body for body in seen if body["task_ids"] == task_slice]
        assert [body["changes"]["status"] for body in mine] == [
            BULK_STATUSES[n % 2] for n in range(len(mine))
        ]
    # The keeper's current token each request.
    assert len({body["token"] for body in seen}) == len(seen)


async def test_bulk_clients_count_refusals_by_status() -> None:
    app = FastAPI()

    @app.post("/api/v1/tasks/bulk")
    async def bulk() -> Any:
        return JSONResponse({"title": "Forbidden"}, status_code=403)

    outcome = await bulk_load(
        "http://work/api/v1/tasks/bulk",
        lambda: "token",
        [["t1"]],
        0.2,
        transport=httpx.ASGITransport(app=app),
    )
    assert outcome.tasks_changed == 0
    assert outcome.statuses == {403: len(outcome.latencies_ms)} and outcome.latencies_ms


def test_settle_seconds_bounds_the_wait_for_an_idle_machine() -> None:
    import measure
    from run import parse_options

    try:
        parse_options(["--settle-seconds", "2"])
        assert measure.SETTLE_LIMIT_SECONDS == [2.0]
    finally:
        measure.SETTLE_LIMIT_SECONDS[0] = 300.0
    assert parse_options([]).duration == 10 and measure.SETTLE_LIMIT_SECONDS == [300.0]
