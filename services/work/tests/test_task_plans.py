"""A project's page of tasks is read from an index however large the project: PostgreSQL's
plans for the board's query (a project's tasks by priority, through the caller's
memberships) and the project list's sorts, on one large project among many small ones,
both the plan made for the values at hand and the generic plan PostgreSQL switches a
prepared statement to after five runs on a connection (it knows no values then)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.dialects.sqlite.aiosqlite import dialect as sqlite_dialect
from taskflow_chassis.db import Database
from taskflow_chassis.testing import fresh_postgres_database
from taskflow_chassis.types import table_of
from taskflow_work.projects.models import Project
from taskflow_work.replica.models import MemberReplica
from taskflow_work.tasks.models import Task
from taskflow_work.tasks.queries import page_statement
from taskflow_work.tasks.schemas import TaskSort

from .conftest import migrated_database

BIG = 20_000  # tasks in the large project
SMALL_TEAMS, SMALL = 100, 200  # teams of one project each, and their tasks
SORTS = list(TaskSort)


def _literal(value: Any) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"


async def _plans(
    database: Database, bound: frozenset[str], sort: TaskSort, values: dict[str, Any]
) -> str:
    """The statement's plan for these values and its generic plan (PREPARE, then EXPLAIN
    EXECUTE while PostgreSQL is told to use the generic one)."""
    statement = page_statement(bound, sort, False).limit(21)
    wanted = {**values, "team_ids": [values["team_id"]], "page_limit": 21}
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
    return "Seq Scan on tasks" in plan or "BitmapAnd" in plan or _sorts_all_it_reads(plan)


def _sorts_all_it_reads(plan: str) -> bool:
    """A Sort over a scan of tasks with no Limit between them: it sorts every task read. (A
    member's page sorts each team's first page, each scan under its own Limit.)"""
    nodes = [
        (len(line) - len(line.lstrip(" -")), line.strip(" ->"))
        for line in plan.splitlines()
        if line.lstrip().startswith("->") or line[:1].isalpha()
    ]
    for index, (depth, node) in enumerate(nodes):
        if not node.startswith("Sort"):
            continue
        path: list[tuple[int, bool]] = []  # the nodes between the Sort and the one at hand
        for inner_depth, inner in nodes[index + 1 :]:
            if inner_depth <= depth:
                break
            while path and path[-1][0] >= inner_depth:
                path.pop()
            if re.search(r"Scan.* on tasks(?! shown)", inner) and not any(
                limited for _, limited in path
            ):
                return True
            path.append((inner_depth, inner.startswith("Limit")))
    return False


async def test_a_projects_page_reads_an_index_not_the_whole_project() -> None:
    async with (
        fresh_postgres_database("taskflow_work_plans") as url,
        migrated_database(url) as database,
    ):
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
                     "due_at": None if n % 3 else now + timedelta(hours=n % 1000),
                     "created_by": user, "created_at": now - timedelta(seconds=n),
                     "updated_at": now}
                    for n, (team, project) in enumerate(tasks)
                ],
            )  # fmt: skip
            await conn.execute(text("ANALYZE"))
        values = {"member_id": str(user), "team_id": str(big_team), "project_id": str(big)}
        pages = [frozenset({scope, "project_id"}) for scope in ("member_id", "team_id", "team_ids")]
        pages.append(frozenset({"team_id"}))  # a team's tasks, all its projects
        pages.append(frozenset({"member_id"}))  # a member's tasks, all their teams
        whole_project_read = {}
        for bound in pages:
            for sort in SORTS:
                plans = await _plans(database, bound, sort, values)
                if _reads_whole_project(plans):
                    whole_project_read[f"{sorted(bound)} {sort}"] = plans
        assert not whole_project_read, whole_project_read


async def test_sqlite_reads_a_page_sorted_by_due_date_from_an_index(tmp_path: Path) -> None:
    """The embedded mode's database: SQLite matches an indexed expression by its text."""
    async with migrated_database(f"sqlite+aiosqlite:///{tmp_path / 'work.db'}") as database:
        values = {"team_id": str(uuid.uuid4()), "project_id": str(uuid.uuid4()),
                  "after_key": "2026-12-01 00:00:00.000000", "after_id": str(uuid.uuid4()),
                  "page_limit": 21}  # fmt: skip
        sorted_in_memory = {}
        for bound in (frozenset({"team_id", "project_id"}), frozenset({"team_id"})):
            for sort in (TaskSort.DUE_AT, TaskSort.DUE_AT_DESC):
                for after in (False, True):
                    statement = page_statement(bound, sort, after)
                    compiled = statement.compile(dialect=sqlite_dialect())
                    expanded = compiled.construct_expanded_state(compiled.construct_params(values))
                    arguments = [expanded.parameters[n] for n in expanded.positiontup or []]
                    async with database.engine.connect() as conn:
                        plan = await conn.exec_driver_sql(
                            f"EXPLAIN QUERY PLAN {expanded.statement}", tuple(arguments)
                        )
                        steps = " | ".join(str(row[-1]) for row in plan)
                    if "TEMP B-TREE" in steps or "_due_" not in steps:
                        sorted_in_memory[f"{sorted(bound)} {sort} {after}"] = steps
        assert not sorted_in_memory, sorted_in_memory


def test_every_page_statement_keeps_its_place_in_the_compiled_cache() -> None:
    """A statement without a cache key is compiled afresh for each request (about 1 ms)."""
    keys = {}
    for sort in TaskSort:
        for bound in (frozenset({"team_id", "project_id"}), frozenset({"member_id"})):
            key = page_statement(bound, sort, True)._generate_cache_key()
            assert key is not None, (sort, bound)
            keys[(sort, bound)] = key.key
    assert len(set(keys.values())) == len(keys)  # soonest and latest first never taken as one
