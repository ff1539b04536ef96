"""Webhooks alone: N deliveries from notify's webhook outbox through its delivery loop to a
local HTTPS receiver, timed; and the cost of one Standard Webhooks signature.

    uv run --frozen python bench/webhooks_micro.py --deliveries 2000 [--endpoints 8] [--postgres]

The notify app runs in this process (its delivery loop as in the API) on a SQLite file, or
with ``--postgres`` on a fresh database of the local PostgreSQL (``TEST_POSTGRES_URL``),
removed after. The deliveries are written first, as the consumer writes them (one event
for ``--endpoints`` endpoints of one team, not measured), then the loop is started and the
clock runs until the receiver (services/notify/tests/webhook_receiver.py: HTTPS on the
loopback with its own certificate, checking nothing) has accepted them all. Each endpoint
gets its deliveries one at a time, in order, so the endpoints are the parallelism. It
prints deliveries per second, this process's CPU milliseconds per delivery (the loop, its
database, and the receiver's threads), and microseconds per signature (HMAC-SHA256 of a
CloudEvent of about 1 KB, with one secret and with the two of a rotation).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from asgi_lifespan import LifespanManager
from taskflow_chassis.events import new_event
from taskflow_chassis.ports import free_port
from taskflow_chassis.testing import fresh_postgres_database
from taskflow_contracts import work
from taskflow_notify.app import create_app
from taskflow_notify.config import NotifySettings
from taskflow_notify.webhooks import rules, service
from taskflow_notify.webhooks.models import WebhookEndpoint

RECEIVER = Path(__file__).resolve().parents[1] / "services/notify/tests/webhook_receiver.py"


def load_receiver() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_webhook_receiver", RECEIVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def sample_event() -> bytes:
    payload = work.TaskUpdated(
        task_id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        team_id=uuid.uuid4(),
        title="Write the launch post for the new release, with screenshots",
        description="A paragraph of description. " * 12,
        status="in_progress",
        priority="high",
        due_at=None,
        estimate_hours=3.5,
        labels=["docs", "launch"],
        assignee_ids=[uuid.uuid4(), uuid.uuid4()],
        changed=["status", "description"],
        updated_by=uuid.uuid4(),
    )
    return new_event(payload.event_type, source="/taskflow/work", data=payload).to_json()


def signature_cost(rounds: int = 20000) -> tuple[float, float, int]:
    """Microseconds per signature header, with one secret and with two; the body's size."""
    body, first, second = sample_event(), rules.new_secret(), rules.new_secret()
    message_id, stamp = str(uuid.uuid4()), int(time.time())
    one = timeit.timeit(
        lambda: rules.signature_header([first], message_id, stamp, body), number=rounds
    )
    two = timeit.timeit(
        lambda: rules.signature_header([first, second], message_id, stamp, body), number=rounds
    )
    return one / rounds * 1e6, two / rounds * 1e6, len(body)


@asynccontextmanager
async def database(use_postgres: bool, tmp: Path) -> AsyncIterator[str]:
    if use_postgres:
        async with fresh_postgres_database("taskflow_bench_webhooks") as url:
            yield url
    else:
        yield f"sqlite+aiosqlite:///{tmp / 'notify.db'}"


async def write_backlog(
    app: Any, team_id: uuid.UUID, url: str, endpoints: int, events: int
) -> None:
    """``endpoints`` endpoints of one team wanting every event, and ``events`` events for
    them, written as the consumer writes them (the app's loop stopped meanwhile)."""
    async with app.state.database.session() as session:
        for _ in range(endpoints):
            session.add(
                WebhookEndpoint(
                    team_id=team_id,
                    url=url,
                    event_type_list=rules.ALL_EVENTS,
                    secret=rules.new_secret(),
                    created_by=uuid.uuid4(),
                )
            )
        await session.commit()
    payload = work.TaskCreated(
        task_id=uuid.uuid4(), project_id=uuid.uuid4(), team_id=team_id, title="Bench",
        status="todo", priority="medium", due_at=None, assignee_ids=[], created_by=uuid.uuid4(),
    )  # fmt: skip
    for start in range(0, events, 200):
        async with app.state.database.session() as session:
            enabled = await service.enabled_endpoints(session, team_id)
            for _ in range(min(200, events - start)):
                event = new_event(payload.event_type, source="/taskflow/work", data=payload)
                await service.enqueue_event(session, team_id, event, enabled)
            await session.commit()


async def deliveries_per_second(
    deliveries: int, endpoints: int, use_postgres: bool
) -> tuple[float, float]:
    receiving = load_receiver()
    events = max(1, deliveries // endpoints)
    total = events * endpoints
    with tempfile.TemporaryDirectory(prefix="webhooks-micro-") as tmp_dir:
        tmp = Path(tmp_dir)
        receiver = receiving.Receiver()
        server = receiving.serve(receiver, tmp, free_port())
        try:
            async with database(use_postgres, tmp) as url:
                settings = NotifySettings(
                    data_dir=tmp,
                    database_url=url,
                    event_bus_url=f"memory://bench-webhooks-{uuid.uuid4().hex[:8]}",
                    email_url=f"file://{tmp / 'mail'}",
                    reminder_timer=False,
                    webhook_allowed_networks=["127.0.0.0/8"],
                    webhook_ca_bundle=str(receiver.ca_file),
                    webhook_concurrency=max(16, endpoints),
                    log_level="WARNING",
                )
                app = create_app(settings)
                async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
                    sender = app.state.webhook_sender
                    await sender.stop()
                    await write_backlog(app, uuid.uuid4(), receiver.url, endpoints, events)
                    wall, cpu = time.perf_counter(), time.process_time()
                    await sender.start()
                    deadline = time.monotonic() + 600
                    while len(receiver.accepted()) < total:
                        if time.monotonic() > deadline:
                            raise SystemExit(
                                f"only {len(receiver.accepted())} of {total} in 10 min"
                            )
                        await asyncio.sleep(0.01)
                    wall = time.perf_counter() - wall
                    cpu = time.process_time() - cpu
        finally:
            server.shutdown()
            server.server_close()
    return total / wall, cpu * 1000 / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=8)
    parser.add_argument("--postgres", action="store_true", help="the local PostgreSQL, not SQLite")
    args = parser.parse_args()
    one, two, size = signature_cost()
    print(
        f"signature: {one:6.2f} µs per header (one secret), {two:6.2f} µs (two, during a "
        f"rotation), body {size} bytes"
    )
    rate, cpu_ms = asyncio.run(
        deliveries_per_second(args.deliveries, args.endpoints, args.postgres)
    )
    store = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"{args.deliveries} deliveries to {args.endpoints} endpoints ({store}): "
        f"{rate:7.0f} deliveries/s; CPU per delivery {cpu_ms:6.3f} ms (loop, database, receiver)"
    )


if __name__ == "__main__":
    main()
