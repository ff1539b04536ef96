"""A member's list across their teams reads the same pages on PostgreSQL, where it takes each
team's first page from its index (a LATERAL subquery) and keeps the best of them, as the
join of tasks to the member's teams every other database runs: for every sort and a spread
of filters, walked to the end through cursors a few tasks a page, both show every task the
member may see, in order, once (the LATERAL one also with the indexes turned off, where a
team's ties come in no order of theirs); and no task of a team the member is not in (or in
only by a read-through, or waiting for a resync), nor of a deleted project."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import json
import random
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, insert, text
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.db import Database
from taskflow_chassis.pagination import PageParams
from taskflow_chassis.testing import fresh_postgres_database
from taskflow_chassis.types import table_of
from taskflow_work.projects.models import Project
from taskflow_work.replica.models import MemberReplica, Person
from taskflow_work.tasks.models import PRIORITY_RANK, Priority, Status, Task, TaskAssignee
from taskflow_work.tasks.queries import TaskFilters, TaskPages, TaskScope, page_statement
from taskflow_work.tasks.schemas import TaskRead, TaskSort

from .conftest import migrated_database

SEED = 20261201
TASKS = 200
LIMITS = (1, 3, 7)
START = datetime(2026, 12, 1, 9, tzinfo=UTC)
LABELS = ("bug", "ui", "ui-kit", "backend", "docs")
TITLES = ("Fix login", "Write docs", "Tune the LOGIN page", "Refactor billing", "Triage")
# What a task without a due date sorts as (tasks.models.due_key): last, both ways.
NO_DUE_SOONEST_FIRST = datetime(9999, 1, 1, tzinfo=UTC)
NO_DUE_LATEST_FIRST = datetime(1, 1, 2, tzinfo=UTC)
# A membership that lets its member see the team's tasks: from teams' events, no resync due.
VISIBLE = {"from_event": True, "resync_needed": False}


class GenericPages(TaskPages):
    """Pages read with the statement of any database but PostgreSQL (tasks joined to the
    member's teams), which PostgreSQL runs as well."""

    def __init__(self) -> None:
        super().__init__()
        self._statement = functools.lru_cache(maxsize=None)(_generic_statement)


def _generic_statement(bound: frozenset[str], sort: TaskSort, after: bool, _: str) -> Select[Any]:
    return page_statement(bound, sort, after, "generic")


@dataclasses.dataclass(frozen=True)
class Team:
    id: uuid.UUID
    weight: int  # how many tasks it gets, relatively
    member_row: dict[str, bool] | None  # the member's membership: from_event, resync_needed

    @property
    def visible(self) -> bool:
        return self.member_row == VISIBLE


@dataclasses.dataclass(frozen=True)
class SeededTask:
    id: uuid.UUID
    team_id: uuid.UUID
    project_id: uuid.UUID
    title: str
    description: str | None
    status: Status
    priority: Priority
    due_at: datetime | None
    labels: tuple[str, ...]
    assignees: tuple[uuid.UUID, ...]
    created_at: datetime


@dataclasses.dataclass(frozen=True)
class Seeded:
    member: uuid.UUID
    people: tuple[uuid.UUID, ...]
    tasks: tuple[SeededTask, ...]  # those the member may see, in no order


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _teams(rng: random.Random) -> list[Team]:
    return [
        Team(_uuid(rng), 6, VISIBLE),  # a busy team
        Team(_uuid(rng), 2, VISIBLE),
        Team(_uuid(rng), 1, VISIBLE),  # a quiet one
        Team(_uuid(rng), 2, {"from_event": False, "resync_needed": False}),  # read through
        Team(_uuid(rng), 2, {"from_event": True, "resync_needed": True}),  # waiting a resync
        Team(_uuid(rng), 2, None),  # the member is not in it
    ]


def _task(
    rng: random.Random, team: Team, project: uuid.UUID, people: Sequence[uuid.UUID]
) -> SeededTask:
    return SeededTask(
        id=_uuid(rng),
        team_id=team.id,
        project_id=project,
        title=f"{rng.choice(TITLES)} #{rng.randrange(1000)}",
        description=rng.choice((None, "", "Users cannot log in", "see the login form")),
        status=rng.choice(list(Status)),
        priority=rng.choice(list(Priority)),
        # Twenty days over some two hundred tasks, a third without one: many ties.
        due_at=None if rng.random() < 0.3 else START + timedelta(days=rng.randrange(20)),
        labels=tuple(rng.sample(LABELS, rng.randrange(3))),
        assignees=tuple(rng.sample(people, rng.randrange(3))),
        created_at=START - timedelta(minutes=rng.randrange(90)),  # ties too
    )


async def _seed(database: Database) -> Seeded:
    rng = random.Random(SEED)
    member, people = _uuid(rng), tuple(_uuid(rng) for _ in range(4))
    teams = _teams(rng)
    projects = {team.id: [_uuid(rng), _uuid(rng)] for team in teams}
    deleted = projects[teams[0].id][1]  # soft-deleted: its tasks are hidden
    tasks = []
    for _ in range(TASKS):
        [team] = rng.choices(teams, weights=[team.weight for team in teams])
        tasks.append(_task(rng, team, rng.choice(projects[team.id]), people))
    async with database.engine.begin() as conn:
        await conn.execute(
            insert(table_of(Person)),
            [{"user_id": user, "username": f"user{n}", "display_name": f"User {n}",
              "updated_at": START}
             for n, user in enumerate((member, *people))],
        )  # fmt: skip
        await conn.execute(
            insert(table_of(Project)),
            [{"id": project, "team_id": team, "name": "P", "metadata": "{}", "archived": False,
              "created_by": member, "created_at": START, "updated_at": START,
              "deleted_at": START if project == deleted else None}
             for team, pair in projects.items() for project in pair],
        )  # fmt: skip
        await conn.execute(
            insert(table_of(MemberReplica)),
            # Someone else is in every team, the member in all but the last.
            [{"team_id": team.id, "user_id": user, "role_id": uuid.UUID(int=1),
              "role_name": "Developer", "permissions": "[]", "updated_at": START, **row}
             for team in teams
             for user, row in ((member, team.member_row), (people[0], VISIBLE))
             if row is not None],
        )  # fmt: skip
        await conn.execute(
            insert(table_of(Task)),
            [{"id": task.id, "project_id": task.project_id, "team_id": task.team_id,
              "title": task.title, "description": task.description, "status": task.status,
              "priority": task.priority, "priority_rank": PRIORITY_RANK[task.priority],
              "due_at": task.due_at, "labels": json.dumps(list(task.labels)),
              "assignee_ids": json.dumps([str(user) for user in task.assignees]),
              "created_by": member, "created_at": task.created_at, "updated_at": START}
             for task in tasks],
        )  # fmt: skip
        await conn.execute(
            insert(table_of(TaskAssignee)),
            [{"task_id": task.id, "user_id": user, "assigned_by": member, "assigned_at": START}
             for task in tasks for user in task.assignees],
        )  # fmt: skip
    visible_teams = {team.id for team in teams if team.visible}
    seen = tuple(t for t in tasks if t.team_id in visible_teams and t.project_id != deleted)
    return Seeded(member, people, seen)


def _filters(seeded: Seeded) -> dict[str, TaskFilters]:
    someone, another = seeded.people[1], seeded.people[2]
    return {
        "none": TaskFilters(),
        "status": TaskFilters(statuses=(Status.TODO,)),
        "statuses": TaskFilters(statuses=(Status.IN_PROGRESS, Status.DONE)),
        "priority": TaskFilters(priorities=(Priority.HIGH,)),
        "assignee": TaskFilters(assignees=(someone,)),
        "assignees": TaskFilters(assignees=(someone, another)),
        "label": TaskFilters(labels=("ui",)),  # not "ui-kit"
        "labels": TaskFilters(labels=("bug", "docs")),
        "due_before": TaskFilters(due_before=START + timedelta(days=5)),
        "due_after": TaskFilters(due_after=START + timedelta(days=12)),
        "pattern": TaskFilters(q="login PAGE"),  # in any case
        "several": TaskFilters(
            statuses=(Status.TODO, Status.BACKLOG),
            labels=("backend", "ui"),
            due_after=START + timedelta(days=2),
            due_before=START + timedelta(days=15),
        ),
    }


def _chosen(task: SeededTask, filters: TaskFilters) -> bool:
    """Whether ``filters`` choose ``task``, as TaskFilters documents them."""
    needle = (filters.q or "").lower()
    due = task.due_at
    return all(
        (
            not filters.statuses or task.status in filters.statuses,
            not filters.priorities or task.priority in filters.priorities,
            not filters.assignees or bool(set(task.assignees) & set(filters.assignees)),
            not filters.labels or bool(set(task.labels) & set(filters.labels)),
            filters.due_before is None or (due is not None and due < filters.due_before),
            filters.due_after is None or (due is not None and due > filters.due_after),
            needle in task.title.lower() or needle in (task.description or "").lower(),
        )
    )


def _sort_position(task: SeededTask, sort: TaskSort) -> tuple[Any, uuid.UUID]:
    if sort in (TaskSort.DUE_AT, TaskSort.DUE_AT_DESC):
        no_due = NO_DUE_LATEST_FIRST if sort == TaskSort.DUE_AT_DESC else NO_DUE_SOONEST_FIRST
        return task.due_at or no_due, task.id
    if sort in (TaskSort.PRIORITY, TaskSort.PRIORITY_DESC):
        return PRIORITY_RANK[task.priority], task.id
    return task.created_at, task.id


def _expected_ids(seeded: Seeded, filters: TaskFilters) -> list[uuid.UUID]:
    chosen = [task for task in seeded.tasks if _chosen(task, filters)]
    chosen.sort(key=lambda task: _sort_position(task, filters.sort))
    if filters.sort.value.startswith("-"):
        chosen.reverse()  # (key, id) both descending, as the statements order them
    return [task.id for task in chosen]


async def _walk(
    pages: TaskPages, session: AsyncSession, member: uuid.UUID, filters: TaskFilters, limit: int
) -> list[TaskRead]:
    """Every page from the first, each from the cursor of the one before."""
    shown: list[TaskRead] = []
    cursor = None
    for _ in range(TASKS + 1):
        page = PageParams(limit=limit, cursor=cursor)
        tasks, cursor = await pages.page(session, TaskScope(member_id=member), filters, page)
        assert len(tasks) == limit or cursor is None, (filters, limit, len(tasks))
        shown += tasks
        if cursor is None:
            return shown
    raise AssertionError(f"more pages than tasks: {filters} limit {limit}")


def _difference(expected: list[uuid.UUID], shown: list[TaskRead]) -> str | None:
    ids = [task.id for task in shown]
    if ids == expected:
        return None
    same = (n for n, (one, other) in enumerate(zip(ids, expected, strict=False)) if one != other)
    at = next(same, min(len(ids), len(expected)))
    return (
        f"{len(ids)} tasks shown of {len(expected)}; from #{at}: shown {ids[at : at + 3]}, "
        f"expected {expected[at : at + 3]}; missing {set(expected) - set(ids)}, "
        f"not expected {set(ids) - set(expected)}"
    )


@dataclasses.dataclass(frozen=True)
class Way:
    pages: TaskPages
    session: AsyncSession


@contextlib.asynccontextmanager
async def _ways_to_read(database: Database) -> AsyncIterator[dict[str, Way]]:
    """The member statement, read from the indexes as PostgreSQL chooses and again with
    every team's tasks sorted whole (where ties come in no order of theirs: a page must
    not depend on the plan); and the join."""
    async with (
        database.session() as indexed,
        database.session() as sorted_whole,
        database.session() as joined,
    ):
        for scans in ("indexscan", "indexonlyscan", "bitmapscan"):
            await sorted_whole.execute(text(f"SET enable_{scans} = off"))
        yield {  # each on a connection of its own: the three are read side by side
            "lateral": Way(TaskPages(), indexed),
            "lateral, sorted whole": Way(TaskPages(), sorted_whole),
            "join": Way(GenericPages(), joined),
        }


def test_postgresql_reads_a_members_page_through_each_team() -> None:
    """The statement compared is the LATERAL one (a page built the other way compares the
    join with itself)."""
    for sort in TaskSort:
        for after in (False, True):
            statement = page_statement(frozenset({"member_id"}), sort, after, "postgresql")
            assert "LATERAL" in str(statement.compile(dialect=asyncpg_dialect()))


async def test_a_members_pages_through_each_team_are_the_joins_pages() -> None:
    async with (
        fresh_postgres_database("taskflow_work_member_pages") as url,
        migrated_database(url) as database,
    ):
        seeded = await _seed(database)
        wrong: dict[str, str] = {}
        async with _ways_to_read(database) as ways:
            cases = itertools.product(TaskSort, _filters(seeded).items(), LIMITS)
            for sort, (name, chosen), limit in cases:
                filters = dataclasses.replace(chosen, sort=sort)
                expected = _expected_ids(seeded, filters)
                walks = (
                    _walk(read.pages, read.session, seeded.member, filters, limit)
                    for read in ways.values()
                )
                shown = dict(zip(ways, await asyncio.gather(*walks), strict=True))
                case = f"{sort} {name} limit={limit}"
                problems = {way: _difference(expected, tasks) for way, tasks in shown.items()}
                wrong |= {f"{case} ({way})": p for way, p in problems.items() if p}
                if not any(problems.values()) and any(
                    tasks != shown["join"] for tasks in shown.values()
                ):
                    wrong[case] = "the same tasks, shown otherwise"
        assert not wrong, wrong
