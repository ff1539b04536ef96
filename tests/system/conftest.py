"""The distributed runtime as processes (``make up``'s LocalStack) on the machine's servers.

One stack per test module, with a unique name: its own databases, exchange, queues
and Celery queue, so runs never mix. Every request goes through the gateway as
configured in gateway/ (taskflow_embedded.gateway). Needs PostgreSQL, RabbitMQ and
Redis: skipped with the reason where one is missing, failed when CI is set.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
import pytest_asyncio
from taskflow_chassis.testing import require_postgres, require_rabbitmq, require_redis
from taskflow_embedded.gateway import GatewayTransport
from taskflow_embedded.local import LocalStack

PASSWORD = "correct-horse-battery"


def free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


class System:
    def __init__(
        self, stack: LocalStack, client: httpx.AsyncClient, transport: GatewayTransport
    ) -> None:
        self.stack, self.client, self.transport = stack, client, transport

    def emails(self, to: str | None = None) -> list[EmailMessage]:
        found = []
        for folder in ("new", "cur"):
            for path in sorted(
                (self.stack.mail_dir / folder).glob("*"), key=lambda p: p.stat().st_mtime_ns
            ):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if isinstance(message, EmailMessage) and (to is None or message["To"] == to):
                    found.append(message)
        return found

    async def wait_for(
        self, condition: Callable[[], Any], seconds: float = 60, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            value = condition()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            if time.monotonic() > deadline:
                logs = "\n".join(
                    f"--- {name}\n{self.stack.log(name, 1500)}"
                    for name in ("notify", "worker", "smtp")
                )
                raise AssertionError(f"timed out waiting for {what}\n{logs}")
            await asyncio.sleep(0.2)

    async def sign_up(self, name: str, *, phone: str) -> dict[str, str]:
        created = await self.client.post(
            "/api/v1/auth/users",
            json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        assert created.status_code == 201, created.text
        tokens = await self.client.post(
            "/api/v1/auth/jwt/create", json={"username": name, "password": PASSWORD}
        )
        assert tokens.status_code == 200, tokens.text
        headers = {"Authorization": f"Bearer {tokens.json()['access']}"}
        registered = await self.client.post(
            "/api/v1/participants/register", headers=headers, json={"phone_number": phone}
        )
        assert registered.status_code == 201, registered.text
        return {**headers, "id": created.json()["id"], "email": f"{name}@example.com"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    require_postgres()
    require_rabbitmq()
    require_redis()
    ports = free_ports(6)
    stack = LocalStack(
        data_dir=tmp_path_factory.mktemp("stack"),
        name=f"tfsys_{uuid.uuid4().hex[:8]}",
        gateway_port=ports[0],
        base_port=ports[1],
        smtp_port=ports[5],
        reminder_scan_seconds=2,
    )
    # The four service ports must be consecutive: take them from above the gateway's.
    stack.base_port = max(ports) + 1
    await stack.create_databases()
    stack.start()
    try:
        await stack.wait_ready()
        transport = GatewayTransport(stack.upstreams())
        async with httpx.AsyncClient(
            transport=transport, base_url=stack.gateway_url, timeout=30
        ) as client:
            yield System(stack, client, transport)
        await transport.aclose()
    finally:
        stack.stop()
        await cleanup(stack)


async def cleanup(stack: LocalStack) -> None:
    import aio_pika

    await stack.drop_databases()
    connection = await aio_pika.connect(stack.rabbitmq_url)
    async with connection:
        channel = await connection.channel()
        for service in ("auth", "teams", "work", "notify"):
            for suffix in ("", ".retry", ".dlq"):
                await channel.queue_delete(f"{stack.name}.{service}{suffix}")
        await channel.exchange_delete(f"{stack.name}.events")
