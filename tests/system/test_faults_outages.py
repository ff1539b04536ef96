"""A service's database away for 30 s: nothing parked, nothing lost, no access kept.

On the running distributed stack (real PostgreSQL, RabbitMQ, Redis, SMTP sink). The
database refuses every connection and loses those it had (``postgres_outage``), as a
restart or a network cut would look to the service.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from taskflow_chassis.testing import postgres_outage

from .conftest import (
    FIGURES,
    System,
    duplicates,
    running_system,
    send_comments,
    team_with_member,
    wait_all_delivered,
)

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.timeout(600),
]

OUTAGE_SECONDS = 30


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    # No periodic reconcile of work's replica during these tests: the removal must reach
    # work through its own event, handled once the paused consumer resumes.
    async with running_system(
        tmp_path_factory.mktemp("stack"), extra_env={"WORK_REPLICA_RECONCILE_SECONDS": "3600"}
    ) as running:
        yield running


async def test_work_database_away_while_a_member_is_removed(system: System) -> None:
    world = await team_with_member(system, "wolead", "wodev")
    client = system.client
    task_url = f"/api/v1/tasks/{world['task']['id']}"
    assert (await client.get(task_url, headers=world["dev"])).status_code == 200
    dev_id = (await client.get("/api/v1/auth/users/me", headers=world["dev"])).json()["id"]
    team_id = world["team"]["id"]

    async with postgres_outage(system.stack.database_url("work")):
        outage_started = time.monotonic()
        removed = await client.delete(
            f"/api/v1/teams/{team_id}/members/{dev_id}", headers=world["lead"]
        )
        assert removed.status_code == 204, removed.text
        renamed = await client.patch(
            f"/api/v1/teams/{team_id}", headers=world["lead"], json={"name": "Renamed"}
        )
        assert renamed.status_code == 200, renamed.text
        during = await client.get(task_url, headers=world["dev"])
        assert during.status_code == 503, during.text  # work cannot answer, and says so
        assert during.headers["content-type"] == "application/problem+json"
        assert "retry-after" in during.headers
        await asyncio.sleep(OUTAGE_SECONDS - (time.monotonic() - outage_started))
    recovered_at = time.monotonic()

    async def refused() -> bool:
        answer: httpx.Response = await client.get(task_url, headers=world["dev"])
        return answer.status_code == 404

    await system.wait_for(refused, seconds=30, what="the removed member to get 404 from work")
    lost_access_after = time.monotonic() - recovered_at
    comment = await client.post(
        f"{task_url}/comments", headers=world["dev"], json={"body": "still here?"}
    )
    assert comment.status_code == 404, comment.text
    assert (await client.get(task_url, headers=world["lead"])).status_code == 200
    parked = await system.parked("work")
    assert parked == [], parked
    # The removal came through work's own consumer, which paused and resumed.
    handled = await system.sql(
        "work",
        "SELECT count(*) AS n FROM inbox_messages WHERE event_type = $1",
        "taskflow.teams.member.removed.v1",
    )
    assert handled[0]["n"] == 1
    async with httpx.AsyncClient() as direct:
        ready = (await direct.get(f"{system.stack.url('work')}/readyz")).json()
    assert ready["checks"]["consumer"] == "running", ready
    restarts = dict(system.stack.restarts)
    FIGURES.append(
        f"work database away {OUTAGE_SECONDS} s while a member was removed: 503 during, the "
        f"member got 404 {lost_access_after:.1f} s after recovery, events parked "
        f"{len(parked)}, process restarts {restarts or 0}"
    )
    assert lost_access_after <= 30


async def test_notify_database_away_while_comments_flow(system: System) -> None:
    world = await team_with_member(system, "nolead", "nodev")
    await send_comments(system, world, range(0, 20))
    async with postgres_outage(system.stack.database_url("notify")):
        outage_started = time.monotonic()
        sent = 20
        while time.monotonic() - outage_started < OUTAGE_SECONDS - 2:
            await send_comments(system, world, range(sent, sent + 10))
            sent += 10
            await asyncio.sleep(1)
        await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
    recovered_at = time.monotonic()
    await send_comments(system, world, range(sent, sent + 20))
    sent += 20
    items, mails = await wait_all_delivered(system, world, sent)
    delivered_after = time.monotonic() - recovered_at
    bodies = [i["body"] for i in items]
    email_ids = [m["X-TaskFlow-Email-Id"] for m in mails]
    failed = await system.sql("notify", "SELECT id FROM email_messages WHERE status = 'failed'")
    parked = await system.parked("notify")
    FIGURES.append(
        f"notify database away {OUTAGE_SECONDS} s while comments flowed: {sent} events sent, "
        f"{len(items)} notifications ({sent - len(set(bodies))} lost, {duplicates(bodies)} "
        f"duplicated), {len(mails)} emails ({sent - len(set(email_ids))} lost, "
        f"{duplicates(email_ids)} duplicated), {len(failed)} failed, {len(parked)} parked, "
        f"all delivered {delivered_after:.1f} s after recovery"
    )
    assert sorted(bodies) == sorted(f"comment {n}" for n in range(sent))
    assert len(mails) == sent and duplicates(email_ids) == 0
    assert failed == [] and parked == []
