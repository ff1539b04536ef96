"""Faults on the running distributed stack: nothing lost, nothing twice.

Each test prints its figures (events sent, notifications and emails received,
duplicates, recovery time).
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import Any

import pytest

from .conftest import FIGURES, team_with_member

# Hundreds of events through every process: far longer than a unit test's time limit.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(600)]


async def comment_notifications(system: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = (
            await system.client.get("/api/v1/notifications", headers=headers, params=params)
        ).json()
        items += [i for i in page["items"] if i["kind"] == "task_commented"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def comment_emails(system: Any, address: str) -> list[Any]:
    return [m for m in system.emails(address) if m["Subject"].startswith("New comment on")]


async def send_comments(
    system: Any, world: dict[str, Any], numbers: range, *, during: Any = None
) -> None:
    url = f"/api/v1/tasks/{world['task']['id']}/comments"
    for start in range(numbers.start, numbers.stop, 25):
        batch = range(start, min(start + 25, numbers.stop))
        answers = await asyncio.gather(
            *(
                system.client.post(url, headers=world["lead"], json={"body": f"comment {n}"})
                for n in batch
            )
        )
        assert all(a.status_code == 201 for a in answers), [
            a.text for a in answers if a.status_code != 201
        ][:3]
        if during is not None:
            await during(batch.stop)


async def wait_all_delivered(
    system: Any, world: dict[str, Any], expected: int
) -> tuple[list[Any], list[Any]]:
    async def notified() -> Any:
        items = await comment_notifications(system, world["dev"])
        return items if len(items) >= expected else None

    await system.wait_for(notified, seconds=240, what=f"{expected} comment notifications")
    await system.wait_for(
        lambda: (lambda m: m if len(m) >= expected else None)(
            comment_emails(system, world["dev_email"])
        ),
        seconds=240,
        what=f"{expected} comment emails",
    )
    await asyncio.sleep(3)  # room for duplicates to show up
    return await comment_notifications(system, world["dev"]), comment_emails(
        system, world["dev_email"]
    )


def duplicates(values: list[str]) -> int:
    return len(values) - len(set(values))


async def test_notify_killed_mid_stream_under_500_events(system: Any) -> None:
    world = await team_with_member(system, "kilead", "kidev")
    killed_at: dict[str, float] = {}

    async def kill_and_restart(sent: int) -> None:
        if sent >= 150 and "killed" not in killed_at:
            system.stack.kill("notify")  # SIGKILL: consumer, relay and dispatcher die mid-stream
            killed_at["killed"] = time.monotonic()
            system.stack.start_process("notify")
            await system.stack.wait_ready("notify")
            killed_at["restarted"] = time.monotonic()

    await send_comments(system, world, range(500), during=kill_and_restart)
    items, mails = await wait_all_delivered(system, world, 500)
    recovery = time.monotonic() - killed_at["restarted"]
    bodies = [i["body"] for i in items]
    email_ids = [m["X-TaskFlow-Email-Id"] for m in mails]
    FIGURES.append(
        f"notify killed mid-stream: 500 events sent, {len(items)} notifications, "
        f"{len(mails)} emails, "
        f"{duplicates(bodies)} duplicate notifications, {duplicates(email_ids)} duplicate emails, "
        f"all delivered {recovery:.1f} s after the restart"
    )
    assert len(items) == 500 and duplicates(bodies) == 0
    assert sorted(bodies) == sorted(f"comment {n}" for n in range(500))
    assert len(mails) == 500 and duplicates(email_ids) == 0


async def test_broker_connections_dropped(system: Any) -> None:
    world = await team_with_member(system, "brlead", "brdev")
    await send_comments(system, world, range(0, 50))
    # A one-off admin command, awaited on purpose: the stack keeps running meanwhile.
    dropped = subprocess.run(  # noqa: ASYNC221
        ["rabbitmqctl", "close_all_connections", "TaskFlow fault test"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if dropped.returncode != 0:
        pytest.fail(f"rabbitmqctl failed: {dropped.stderr}")
    started = time.monotonic()
    await send_comments(system, world, range(50, 150))  # while relays and consumers reconnect
    items, mails = await wait_all_delivered(system, world, 150)
    recovery = time.monotonic() - started
    bodies = [i["body"] for i in items]
    FIGURES.append(
        f"broker connections dropped: 150 events sent, {len(items)} notifications, "
        f"{len(mails)} emails, "
        f"{duplicates(bodies)} duplicates, recovered and delivered in {recovery:.1f} s"
    )
    assert sorted(bodies) == sorted(f"comment {n}" for n in range(150))
    assert len(mails) == 150


async def test_database_unreachable_is_503_and_nothing_half_written(system: Any) -> None:
    import asyncpg

    world = await team_with_member(system, "dblead", "dbdev")
    database = f"{system.stack.name}_work"
    admin = await asyncpg.connect(system.stack.postgres_url)
    try:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
        )
        url = f"/api/v1/projects/{world['task']['project_id']}/tasks"
        down = await system.client.post(
            url, headers=world["lead"], json={"title": "During the outage"}
        )
        assert down.status_code == 503, down.text
        assert down.headers["content-type"] == "application/problem+json"
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await admin.close()
    started = time.monotonic()

    async def recovered() -> bool:
        answer = await system.client.post(
            url, headers=world["lead"], json={"title": "After the outage"}
        )
        return answer.status_code == 201

    await system.wait_for(recovered, seconds=60, what="work to reach its database again")
    titles = [
        t["title"]
        for t in (
            await system.client.get(
                "/api/v1/tasks",
                headers=world["lead"],
                params={"project_id": world["task"]["project_id"]},
            )
        ).json()["items"]
    ]
    FIGURES.append(
        f"database unreachable: 503 while down, recovered in {time.monotonic() - started:.1f} s"
    )
    assert "During the outage" not in titles and titles.count("After the outage") == 1
