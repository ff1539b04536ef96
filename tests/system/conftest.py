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
import itertools
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

_phones = itertools.count(110)


def next_phone() -> str:
    """A different valid number each call (phone numbers are unique per participant)."""
    return f"+1415555{next(_phones):04d}"


# What the system and fault tests measured; printed at the end of every run.
FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("TaskFlow system figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


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
        self._parsed: dict[str, tuple[int, EmailMessage]] = {}

    def emails(self, to: str | None = None) -> list[EmailMessage]:
        """Every message at the SMTP sink, oldest first (each file parsed once: polls are cheap)."""
        for folder in ("new", "cur"):
            for path in (self.stack.mail_dir / folder).glob("*"):
                if path.name not in self._parsed:
                    message = email.message_from_bytes(
                        path.read_bytes(), policy=email.policy.default
                    )
                    if isinstance(message, EmailMessage):
                        self._parsed[path.name] = (path.stat().st_mtime_ns, message)
        ordered = [
            message for _, message in sorted(self._parsed.values(), key=lambda item: item[0])
        ]
        return [m for m in ordered if to is None or m["To"] == to]

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
        smtp_port=ports[5],
        ports=dict(zip(("auth", "teams", "work", "notify"), ports[1:5], strict=True)),
        reminder_scan_seconds=2,
    )
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


async def team_with_member(system: System, lead_name: str, dev_name: str) -> dict[str, Any]:
    """A team led by one user, a developer who joined by the emailed invitation, and a task
    in a project assigned to the developer."""
    import re

    client = system.client
    lead = await system.sign_up(lead_name, phone=next_phone())
    lead_headers = {"Authorization": lead["Authorization"]}

    async def create_team() -> Any:
        response = await client.post(
            "/api/v1/teams", headers=lead_headers, json={"name": f"{lead_name}'s team"}
        )
        return response.json() if response.status_code == 201 else None

    team = await system.wait_for(create_team, what="the participant profile to reach teams")
    roles = (await client.get(f"/api/v1/teams/{team['id']}/roles", headers=lead_headers)).json()[
        "items"
    ]
    developer = next(r["id"] for r in roles if r["name"] == "Developer")
    await client.post(
        f"/api/v1/teams/{team['id']}/invitations",
        headers=lead_headers,
        json={"email": f"{dev_name}@example.com", "role_id": developer},
    )
    [invitation] = await system.wait_for(
        lambda: system.emails(f"{dev_name}@example.com"), what="invitation email"
    )
    body = invitation.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    token = re.search(r"token=([\w-]+)", body).group(1)  # type: ignore[union-attr]
    dev = await system.sign_up(dev_name, phone=next_phone())
    dev_headers = {"Authorization": dev["Authorization"]}

    async def accept() -> Any:
        response = await client.post(
            "/api/v1/invitations/accept", headers=dev_headers, json={"token": token}
        )
        return response.status_code == 200

    await system.wait_for(accept, what="the invitee's profile to reach teams")
    project = (
        await client.post(
            "/api/v1/projects", headers=lead_headers, json={"team_id": team["id"], "name": "P"}
        )
    ).json()
    task = (
        await client.post(
            f"/api/v1/projects/{project['id']}/tasks",
            headers=lead_headers,
            json={"title": f"Task of {dev_name}", "assignee_ids": [dev["id"]]},
        )
    ).json()
    return {
        "lead": lead_headers,
        "dev": dev_headers,
        "dev_email": f"{dev_name}@example.com",
        "team": team,
        "task": task,
    }
