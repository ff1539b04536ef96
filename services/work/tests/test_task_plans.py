"""A project's page of tasks is read from an index however large the project: PostgreSQL's
plan for the board's query (a project's tasks by priority, through the caller's
memberships) and the project list's sorts, on a project of many tasks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, text
from sqlalchemy.dialects import postgresql
from taskflow_chassis.db import Database
from taskflow_chassis.migrations import migrate_to
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.testing import fresh_postgres_database
from taskflow_chassis.types import table_of
from taskflow_work import app as work_app
from taskflow_work.projects.models import Project
from taskflow_work.replica.models import MemberReplica
from taskflow_work.tasks.models import Task
from taskflow_work.tasks.queries import page_statement
from taskflow_work.tasks.schemas import TaskSort

TASKS = 20_000  # in the big project; as many again in the team's other one


async def _explain(database: Database, scope: str, sort: TaskSort, values: dict[str, str]) -> str:
    statement = page_statement(frozenset({scope, "project_id"}), sort, False).limit(21)
    if scope == "team_ids":
        statement = statement.params(team_ids=[values["team_id"]], project_id=values["project_id"])
    else:
        statement = statement.params(**values)
    sql = str(
        statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )
    async with database.engine.connect() as conn:
        rows = (await conn.execute(text("EXPLAIN " + sql))).scalars()
        return "\n".join(rows)


SORTS = [TaskSort.PRIORITY_DESC, TaskSort.PRIORITY, TaskSort.CREATED_AT_DESC, TaskSort.CREATED_AT]


async def test_a_projects_page_reads_an_index_not_the_whole_project() -> None:
    async with fresh_postgres_database("taskflow_work_plans") as url:
        database = Database(url)
        try:
            await migrate_to(
                database, migrations_dir(work_app.__file__), "alembic_version_work", "head"
            )
            team, user = uuid.uuid4(), uuid.uuid4()
            big, other = uuid.uuid4(), uuid.uuid4()
            now = datetime.now(UTC)
            async with database.engine.begin() as conn:
                await conn.execute(
                    insert(table_of(Project)),
                    [
                        {"id": p, "team_id": team, "name": "P", "metadata": "{}",
                         "archived": False, "created_by": user, "created_at": now,
                         "updated_at": now}
                        for p in (big, other)
                    ],
                )  # fmt: skip
                await conn.execute(
                    insert(table_of(MemberReplica)),
                    [{"team_id": team, "user_id": user, "role_id": uuid.uuid4(),
                      "role_name": "Developer", "permissions": "[]", "from_event": True,
                      "updated_at": now}],
                )  # fmt: skip
                await conn.execute(
                    insert(table_of(Task)),
                    [
                        {"id": uuid.uuid4(), "project_id": big if n % 2 else other,
                         "team_id": team, "title": f"Task {n}", "status": "todo",
                         "priority": "low", "priority_rank": n % 4, "labels": "[]",
                         "assignee_ids": "[]", "created_by": user,
                         "created_at": now - timedelta(seconds=n), "updated_at": now}
                        for n in range(2 * TASKS)
                    ],
                )  # fmt: skip
                await conn.execute(text("ANALYZE"))
            values = {"member_id": str(user), "team_id": str(team), "project_id": str(big)}
            whole_project_read = {}
            for scope in ("member_id", "team_ids"):
                for sort in SORTS:
                    plan = await _explain(database, scope, sort, values)
                    if "Seq Scan on tasks" in plan or "Sort" in plan.split("Index Scan")[0]:
                        whole_project_read[f"{scope} {sort}"] = plan
            assert not whole_project_read, whole_project_read
        finally:
            await database.dispose()
