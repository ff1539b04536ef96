"""Redis away for 45 s, with log-ins and comments flowing: never a 500, and every email
queued while it was gone (or lost with it: it keeps nothing on disk) goes out within
a minute of its return. The stack runs on a redis-server of the test's own."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from taskflow_chassis.ports import free_ports
from taskflow_chassis.testing import in_ci

from .conftest import (
    FIGURES,
    PASSWORD,
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

REDIS_DOWN_SECONDS = 45


class RedisServer:
    def __init__(self, binary: str, port: int) -> None:
        self.binary, self.port = binary, port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def redis_server() -> AsyncIterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        if in_ci():
            pytest.fail("redis-server is not installed (Debian: apt-get install redis-server)")
        pytest.skip("redis-server is not installed")
    server = RedisServer(binary, free_ports(1)[0])
    server.start()
    yield server
    server.kill()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(
    tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer
) -> AsyncIterator[Any]:
    async with running_system(
        tmp_path_factory.mktemp("stack"), redis_url=redis_server.url
    ) as running:
        yield running


async def test_redis_away_with_log_ins_and_comments_flowing(
    system: System, redis_server: RedisServer
) -> None:
    world = await team_with_member(system, "rdlead", "rddev")
    await send_comments(system, world, range(10))
    statuses: Counter[int] = Counter()

    async def log_in(password: str) -> None:
        answer = await system.client.post(
            "/api/v1/auth/jwt/create", json={"username": "rdlead", "password": password}
        )
        statuses[answer.status_code] += 1

    redis_server.kill()
    stopped = time.monotonic()
    sent = 10
    while time.monotonic() - stopped < REDIS_DOWN_SECONDS:
        await asyncio.gather(log_in(PASSWORD), log_in("wrong-password"))
        await send_comments(system, world, range(sent, sent + 5))
        sent += 5
        await asyncio.sleep(1)
    redis_server.start()  # empty: whatever was queued in it is gone
    back = time.monotonic()
    await log_in(PASSWORD)
    items, mails = await wait_all_delivered(system, world, sent)
    delivered_after = time.monotonic() - back
    email_ids = [m["X-TaskFlow-Email-Id"] for m in mails]
    bodies = [i["body"] for i in items]
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    FIGURES.append(
        f"Redis away {REDIS_DOWN_SECONDS} s: log-ins answered {dict(sorted(statuses.items()))}, "
        f"{sent} comments, {len(set(bodies))} notifications, {len(set(email_ids))} emails "
        f"({sent - len(set(email_ids))} lost, {duplicates(email_ids)} duplicated), all "
        f"delivered {delivered_after:.1f} s after Redis returned"
    )
    assert server_errors == 0
    assert statuses[200] > 0 and set(statuses) <= {200, 401, 429}
    assert sorted(bodies) == sorted(f"comment {n}" for n in range(sent))
    assert len(set(email_ids)) == sent and duplicates(email_ids) == 0
    assert delivered_after <= 60
