"""Notify's consumer alone: statements and CPU per assignment, through its handlers.

    uv run --frozen python bench/notify_micro.py --assignments 500 [--batch 50] [--members 2]

A fresh PostgreSQL database with notify's migrations, one team (``--members`` members,
all with verified addresses) and a project; then task.created and task.assigned for
each assignment (one member assigns another, as the bench's create does) applied through
notify's handler map in batches of ``--batch`` assignments, as its consumer applies a
batch (``handle_batch``: the inbox rows and every handler's writes in one transaction).
Prints the statements sent per assignment (BEGIN and COMMIT not counted) and this
process's CPU milliseconds per assignment; ``--statements`` lists them by kind. No
RabbitMQ, no relay: what the handlers cost, nothing else (``pipeline_micro.py`` has the
pipeline). Needs the local PostgreSQL (``TEST_POSTGRES_URL``) and drops its database after.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import event
from taskflow_chassis.db import Database
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.handlers import HandlerMap
from taskflow_chassis.inbox import handle_batch
from taskflow_chassis.migrations import upgrade_to_head
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.testing import fresh_postgres_database
from taskflow_chassis.unit_of_work import Publisher
from taskflow_contracts import work
from taskflow_notify import app as notify_app
from taskflow_notify.config import NotifySettings
from taskflow_notify.deps import NotifyDeps
from taskflow_notify.email.service import EmailTemplates
from taskflow_notify.handlers import EVENT_HANDLERS
from taskflow_notify.replica.models import MemberReplica, ProjectReplica, TeamReplica, UserReplica

PUBLISHER = Publisher("notify")
# Batches applied before counting: the compiled statements cached, the cursor rows made.
WARM_UP_BATCHES = 2
PARAMETER = re.compile(r"[$]\d+")  # asyncpg's $1: shown as ?


def _assignment(
    team_id: uuid.UUID, project_id: uuid.UUID, lead: uuid.UUID, dev: uuid.UUID, number: int
) -> list[CloudEvent]:
    task_id, title = uuid.uuid4(), f"Task {number}"
    created = work.TaskCreated(
        task_id=task_id,
        project_id=project_id,
        team_id=team_id,
        title=title,
        status="todo",
        priority="medium",
        due_at=None,
        assignee_ids=[dev],
        created_by=lead,
    )
    assigned = work.TaskAssigned(
        task_id=task_id,
        project_id=project_id,
        team_id=team_id,
        title=title,
        due_at=None,
        assignee_id=dev,
        assigned_by=lead,
    )
    return [
        new_event(payload.event_type, source="/taskflow/work", data=payload)
        for payload in (created, assigned)
    ]


async def _team(database: Database, members: int) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    team_id, project_id = uuid.uuid4(), uuid.uuid4()
    people = [uuid.uuid4() for _ in range(members)]
    async with database.session() as session:
        session.add(TeamReplica(team_id=team_id, name="Bench"))
        session.add(ProjectReplica(project_id=project_id, team_id=team_id, name="Bench"))
        for number, user_id in enumerate(people):
            name = f"member{number}"
            session.add(
                UserReplica(
                    user_id=user_id,
                    username=name,
                    email=f"{name}@example.com",
                    display_name=name.title(),
                    email_verified=True,
                )
            )
            session.add(MemberReplica(team_id=team_id, user_id=user_id, seq=1, active=True))
        await session.commit()
    return team_id, project_id, people


async def run(assignments: int, batch: int, members: int, listing: bool) -> None:
    async with fresh_postgres_database("taskflow_notify_micro") as url:
        database = Database(url)
        try:
            await upgrade_to_head(
                database, migrations_dir(notify_app.__file__), "alembic_version_notify"
            )
            team_id, project_id, people = await _team(database, max(members, 2))
            settings = NotifySettings(database_url=url, public_url="https://taskflow.example")
            handlers = HandlerMap(
                EVENT_HANDLERS, NotifyDeps(settings=settings, templates=EmailTemplates())
            )
            batches = [
                [
                    e
                    for number in range(start, min(start + batch, assignments))
                    for e in _assignment(team_id, project_id, people[0], people[1], number)
                ]
                for start in range(0, assignments, batch)
            ]
            for events in batches[:WARM_UP_BATCHES]:
                await handle_batch(database, events, handlers, PUBLISHER)
            measured = batches[WARM_UP_BATCHES:]
            kinds: Counter[str] = Counter()

            def count(*args: Any) -> None:
                kinds[" ".join(args[2].split())[:100]] += 1

            engine = database.engine.sync_engine
            event.listen(engine, "before_cursor_execute", count)
            cpu = time.process_time()
            for events in measured:
                await handle_batch(database, events, handlers, PUBLISHER)
            cpu = time.process_time() - cpu
            event.remove(engine, "before_cursor_execute", count)
        finally:
            await database.dispose()
    done = sum(len(events) for events in measured) // 2
    if not done:
        raise SystemExit(f"nothing measured: give more than {WARM_UP_BATCHES} batches")
    print(
        f"{done} assignments in batches of {batch}, a team of {max(members, 2)}: "
        f"{kinds.total() / done:.2f} statements and {cpu * 1000 / done:.2f} ms CPU "
        "(this process) an assignment"
    )
    if listing:
        for text, times in kinds.most_common():
            print(f"{times / done:7.2f}  {PARAMETER.sub('?', text)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignments", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50, help="assignments per batch")
    parser.add_argument("--members", type=int, default=2, help="the team's members (2 or more)")
    parser.add_argument("--statements", action="store_true", help="list them by kind")
    args = parser.parse_args()
    asyncio.run(run(args.assignments, args.batch, args.members, args.statements))


if __name__ == "__main__":
    main()
