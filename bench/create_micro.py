"""Work's task create alone, in process: CPU and round trips per create.

    uv run --frozen python bench/create_micro.py --creates 2000 [--in-flight 8]

The work app on a fresh PostgreSQL database (its migrations, an in-memory bus, no teams
or auth: the replica alone answers, as in work's tests), a team of a leader and a
developer, one project. Then ``--creates`` creates of a task with an assignee through
the app's ASGI interface (httpx, no network), ``--in-flight`` at a time, after a warm-up
of a hundred. Prints creates a second, this process's CPU milliseconds per create (the
request, the outbox relay's passes to the in-memory bus and the client: the same client
for every version of the code, so a change shows in the difference) and the statements
per create (the relay's included; BEGIN and COMMIT not counted). PostgreSQL's own CPU is
not counted. Needs the
local PostgreSQL (``TEST_POSTGRES_URL``) and drops its database after.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.events import new_event
from taskflow_chassis.testing import TestTokens, app_running, fresh_postgres_database
from taskflow_contracts import teams
from taskflow_contracts.base import EventPayload
from taskflow_contracts.permissions import BUILT_IN_ROLES, DEVELOPER, TEAM_LEADER
from taskflow_work.app import create_app
from taskflow_work.config import WorkSettings

WARM_UP_CREATES = 100


async def _joined(bus: MemoryBus, app: Any, team_id: uuid.UUID, role: str) -> uuid.UUID:
    user_id = uuid.uuid4()
    await _played(
        bus,
        app,
        teams.MemberJoined(
            team_id=team_id,
            user_id=user_id,
            role_id=uuid.uuid4(),
            role_name=role,
            permissions=sorted(BUILT_IN_ROLES[role]),
        ),
    )
    return user_id


async def _played(bus: MemoryBus, app: Any, payload: EventPayload) -> None:
    await bus.publish(new_event(payload.event_type, source="/taskflow/teams", data=payload))
    for _ in range(3):
        await bus.drain()
        await app.state.relay.publish_pending()


async def run(creates: int, in_flight: int) -> None:
    tokens = TestTokens()
    bus_url = f"memory://work-micro-{uuid.uuid4().hex[:8]}"
    async with fresh_postgres_database("taskflow_work_micro") as url:
        settings = WorkSettings(
            data_dir=Path(tempfile.mkdtemp(prefix="work-micro-")),
            database_url=url,
            event_bus_url=bus_url,
            teams_url="http://teams.invalid",
        )
        app = create_app(settings, jwks_fetcher=tokens.jwks)
        async with app_running(app):
            app.state.authorizer.teams = None
            app.state.revocations.complete = True
            bus = MemoryBus(bus_url)
            await bus.connect()
            team_id = uuid.uuid4()
            await _played(
                bus, app, teams.TeamCreated(team_id=team_id, name="Bench", leader_id=uuid.uuid4())
            )
            lead = await _joined(bus, app, team_id, TEAM_LEADER)
            dev = await _joined(bus, app, team_id, DEVELOPER)
            headers = tokens.headers(lead)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://work") as client:
                made = await client.post(
                    "/api/v1/projects",
                    headers=headers,
                    json={"team_id": str(team_id), "name": "Bench"},
                )
                made.raise_for_status()
                url_tasks = f"/api/v1/projects/{made.json()['id']}/tasks"
                body = {"title": "Bench", "priority": "high", "assignee_ids": [str(dev)]}

                async def create_some(count: int) -> None:
                    for _ in range(count):
                        answer = await client.post(url_tasks, headers=headers, json=body)
                        if answer.status_code != 201:
                            raise SystemExit(f"create answered {answer.status_code}: {answer.text}")

                async def create(count: int) -> None:
                    share, extra = divmod(count, in_flight)
                    await asyncio.gather(
                        *(create_some(share + (i < extra)) for i in range(in_flight))
                    )

                await create(WARM_UP_CREATES)
                sent: list[str] = []

                def count(*_args: Any) -> None:
                    sent.append("statement")

                engine = app.state.database.engine.sync_engine
                event.listen(engine, "before_cursor_execute", count)
                wall, cpu = time.perf_counter(), time.process_time()
                await create(creates)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                event.remove(engine, "before_cursor_execute", count)
            await bus.close()
    print(
        f"{creates} creates, {in_flight} in flight: {creates / wall:,.0f} a second, "
        f"{1000 * cpu / creates:.2f} ms of this process's CPU a create, "
        f"{len(sent) / creates:.2f} statements a create (the relay's included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=8)
    options = parser.parse_args()
    asyncio.run(run(options.creates, options.in_flight))


if __name__ == "__main__":
    main()
