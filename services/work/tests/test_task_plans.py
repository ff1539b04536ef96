"""A project's page of tasks is read from an index however large the project: PostgreSQL's
plans for the board's query (a project's tasks by priority, through the caller's
memberships) and the project list's sorts, on one large project among many small ones,
both the plan made for the values at hand and the generic plan PostgreSQL switches a
prepared statement to after five runs on a connection (it knows no values then)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
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

BIG = 20_000  # tasks in the large project
SMALL_TEAMS, SMALL = 100, 200  # teams of one project each, and their tasks
SORTS = [TaskSort.PRIORITY_DESC, TaskSort.PRIORITY, TaskSort.CREATED_AT_DESC, TaskSort.CREATED_AT]


def _literal(value: Any) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


async def _plans(database: Database, scope: str, sort: TaskSort, values: dict[str, Any]) -> str:
    """The statement's plan for these values and its generic plan (PREPARE, then EXPLAIN
    EXECUTE while PostgreSQL is told to use the generic one)."""
    statement = page_statement(frozenset({scope, "project_id"}), sort, False).limit(21)
    wanted = {**values, "team_ids": [values["team_id"]]}
    compiled = statement.compile(dialect=asyncpg_dialect())
    expanded = compiled.construct_expanded_state(compiled.construct_params(wanted))
    arguments = ", ".join(
        _literal(expanded.parameters[name]) for name in expanded.positiontup or []
    )
    sql = expanded.statement
    plans = []
    async with database.engine.connect() as conn:
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute(text(f"SET plan_cache_mode = {mode}"))
            await conn.exec_driver_sql(f"PREPARE page AS {sql}")
            plan = await conn.exec_driver_sql(f"EXPLAIN EXECUTE page({arguments})")
            plans.append(f"{mode}:\n" + "\n".join(row[0] for row in plan))
            await conn.exec_driver_sql("DEALLOCATE page")
    return "\n".join(plans)


def _reads_whole_project(plan: str) -> bool:
    return "Seq Scan on tasks" in plan or "Sort" in plan or "BitmapAnd" in plan


async def test_a_projects_page_reads_an_index_not_the_whole_project() -> None:
    async with fresh_postgres_database("taskflow_work_plans") as url:
        database = Database(url)
        try:
            await migrate_to(
                database, migrations_dir(work_app.__file__), "alembic_version_work", "head"
            )
            user, now = uuid.uuid4(), datetime.now(UTC)
            teams = [uuid.uuid4() for _ in range(SMALL_TEAMS + 1)]
            projects = [uuid.uuid4() for _ in teams]
            big_team, big = teams[0], projects[0]
            tasks = [(big_team, big)] * BIG + [
                (team, project) for team, project in zip(teams[1:], projects[1:], strict=True)
            ] * SMALL
            async with database.engine.begin() as conn:
                await conn.execute(
                    insert(table_of(Project)),
                    [
                        {"id": project, "team_id": team, "name": "P", "metadata": "{}",
                         "archived": False, "created_by": user, "created_at": now,
                         "updated_at": now}
                        for team, project in zip(teams, projects, strict=True)
                    ],
                )  # fmt: skip
                await conn.execute(
                    insert(table_of(MemberReplica)),
                    [
                        {"team_id": team, "user_id": user, "role_id": uuid.uuid4(),
                         "role_name": "Developer", "permissions": "[]", "from_event": True,
                         "updated_at": now}
                        for team in teams
                    ],
                )  # fmt: skip
                await conn.execute(
                    insert(table_of(Task)),
                    [
                        {"id": uuid.uuid4(), "project_id": project, "team_id": team,
                         "title": f"Task {n}", "status": "todo", "priority": "low",
                         "priority_rank": n % 4, "labels": "[]", "assignee_ids": "[]",
                         "created_by": user, "created_at": now - timedelta(seconds=n),
                         "updated_at": now}
                        for n, (team, project) in enumerate(tasks)
                    ],
                )  # fmt: skip
                await conn.execute(text("ANALYZE"))
            values = {"member_id": str(user), "team_id": str(big_team), "project_id": str(big)}
            whole_project_read = {}
            for scope in ("member_id", "team_id", "team_ids"):
                for sort in SORTS:
                    plans = await _plans(database, scope, sort, values)
                    if _reads_whole_project(plans):
                        whole_project_read[f"{scope} {sort}"] = plans
            assert not whole_project_read, whole_project_read
        finally:
            await database.dispose()
