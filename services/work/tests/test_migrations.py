"""Work's migrations carry existing data: 0002 fills each task's assignee list, 0003
numbers the replica's teams."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Uuid, column, insert, table, text
from taskflow_chassis.db import Database
from taskflow_chassis.migrations import migrate_to
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.testing import fresh_database
from taskflow_chassis.types import table_of
from taskflow_work import app as work_app
from taskflow_work.projects.models import Project
from taskflow_work.tasks.models import Task, TaskAssignee

BACKFILL_BATCH = 5_000  # 0002's batch of tasks


async def migrate(database: Database, revision: str) -> None:
    await migrate_to(
        database,
        migrations_dir(work_app.__file__),
        "alembic_version_work",
        revision,
    )


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
async def any_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path, "taskflow_work_migrations") as url:
        yield url


async def test_0002_fills_assignee_lists_in_assignment_order(any_database_url: str) -> None:
    database = Database(any_database_url)
    try:
        await migrate(database, "0001")
        team, project, someone = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        shared, alone, nobody = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        first, second = sorted((uuid.uuid4(), uuid.uuid4()), reverse=True)  # not in id order
        crowd = [uuid.uuid4() for _ in range(BACKFILL_BATCH + 10)]  # more than one batch
        now = datetime.now(UTC)
        times = {"created_at": now, "updated_at": now}
        async with database.engine.begin() as conn:
            # The tables as 0001 left them: only the columns it made are written.
            await conn.execute(
                insert(table_of(Project)).values(
                    {"id": project, "team_id": team, "name": "P", "metadata": "{}",
                     "archived": False, "created_by": someone, **times},
                )
            )  # fmt: skip
            await conn.execute(
                insert(table_of(Task)),
                [{"id": task, "project_id": project, "team_id": team, "title": "t",
                  "status": "todo", "priority": "medium", "priority_rank": 1, "labels": "[]",
                  "created_by": someone, **times}
                 for task in (shared, alone, nobody, *crowd)],
            )  # fmt: skip
            assignments = [(shared, first, 1), (shared, second, 2), (alone, second, 3)]
            assignments += [(task, someone, 4) for task in crowd]
            await conn.execute(
                insert(table_of(TaskAssignee)),
                [{"task_id": task, "user_id": user, "assigned_by": someone,
                  "assigned_at": now + timedelta(minutes=minutes)}
                 for task, user, minutes in assignments],
            )  # fmt: skip
        await migrate(database, "head")
        async with database.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, assignee_ids FROM tasks"))).all()
        found = {uuid.UUID(str(row[0])): json.loads(row[1]) for row in rows}
        assert found == {
            shared: [str(first), str(second)],
            alone: [str(second)],
            nobody: [],
            **{task: [str(someone)] for task in crowd},
        }
    finally:
        await database.dispose()


async def test_0003_numbers_replica_teams_from_0_and_trusts_their_rows(
    any_database_url: str,
) -> None:
    database = Database(any_database_url)
    try:
        await migrate(database, "0002")
        team, user = uuid.uuid4(), uuid.uuid4()
        now = datetime.now(UTC).replace(tzinfo=None)
        # The tables as 0002 left them: only the columns they had are written.
        teams_then = table(
            "team_replicas", column("team_id", Uuid()), column("name"), column("updated_at")
        )
        members_then = table(
            "member_replicas",
            *(column(name, Uuid()) for name in ("team_id", "user_id", "role_id")),
            *(column(name) for name in ("role_name", "permissions", "from_event", "updated_at")),
        )
        async with database.engine.begin() as conn:
            await conn.execute(insert(teams_then).values(team_id=team, name="T", updated_at=now))
            await conn.execute(
                insert(members_then).values(
                    team_id=team, user_id=user, role_id=uuid.uuid4(), role_name="Viewer",
                    permissions="", from_event=True, updated_at=now,
                )
            )  # fmt: skip
        await migrate(database, "head")
        async with database.engine.connect() as conn:
            seq, flag = (
                await conn.execute(text("SELECT membership_seq, resync_needed FROM team_replicas"))
            ).one()
            member_flag = (
                await conn.execute(text("SELECT resync_needed FROM member_replicas"))
            ).scalar_one()
        assert (seq, bool(flag), bool(member_flag)) == (0, False, False)
    finally:
        await database.dispose()
