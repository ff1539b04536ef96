"""Bulk seeding for ``make bench``: tasks, teams, members, assignees and comments written
straight into work's database with COPY (never through the API), grown size by size.

Half of all tasks sit in the bench project (so its deep page is deep at every size);
the other half are spread over further teams of five projects each, one team per
10,000 tasks. Every task has one assignee among its team's members, and every
fourth task a comment. The bench user belongs to every team, as the API made it
belong to the first one.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

TASKS_PER_TEAM = 10_000
PROJECTS_PER_TEAM = 5
MEMBERS_PER_TEAM = 5
COMMENT_EVERY = 4
BATCH = 50_000
STATUSES = ["backlog", "todo", "in_progress", "in_review", "done"]
PRIORITIES = ["low", "medium", "high", "critical"]
TASK_COLUMNS = [
    "id", "project_id", "team_id", "title", "description", "status", "priority",
    "priority_rank", "due_at", "estimate_hours", "labels", "assignee_ids", "created_by",
    "created_at", "updated_at",
]  # fmt: skip


@dataclass
class Team:
    id: uuid.UUID
    projects: list[uuid.UUID]
    members: list[uuid.UUID]


@dataclass
class Seeded:
    """What the bench made through the API, and what bulk seeding has added since."""

    user_id: uuid.UUID
    team_id: uuid.UUID
    project_id: uuid.UUID
    tasks: int = 0
    teams: list[Team] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    # Seeded times count up from here, so each size's tasks are newer than the last's.
    clock: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(days=400))


async def grow(database_url: str, seeded: Seeded, total_tasks: int) -> None:
    """Add tasks (and their teams, members, assignees, comments) up to ``total_tasks``."""
    conn = await asyncpg.connect(database_url)
    try:
        await _add_teams(conn, seeded, 1 + total_tasks // TASKS_PER_TEAM)
        while seeded.tasks < total_tasks:
            count = min(BATCH, total_tasks - seeded.tasks)
            await _add_tasks(conn, seeded, count)
        # What autovacuum would have done by the time a table this size serves reads (hint
        # bits set, visibility map written), and the seeding's dirty pages flushed: the
        # scenarios then measure reads, not the bulk load's aftermath (a p99 of 89 ms
        # for one task at 1,000,000 tasks without it, 15-21 ms at the smaller sizes).
        await conn.execute("VACUUM (ANALYZE)")
        with contextlib.suppress(asyncpg.InsufficientPrivilegeError):  # not a superuser
            await conn.execute("CHECKPOINT")
        for table in ("tasks", "task_assignees", "comments", "projects", "member_replicas"):
            seeded.counts[table] = await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
    finally:
        await conn.close()


async def _add_teams(conn: asyncpg.Connection, seeded: Seeded, teams: int) -> None:
    """Up to ``teams`` teams: the bench's own (members added), then new ones."""
    bench_role = await conn.fetchrow(
        "SELECT role_id, role_name, permissions FROM member_replicas"
        " WHERE team_id = $1 AND user_id = $2",
        seeded.team_id,
        seeded.user_id,
    )
    if not seeded.teams:
        first = Team(seeded.team_id, [seeded.project_id], _new_ids(MEMBERS_PER_TEAM - 1))
        seeded.teams.append(first)
        await _add_members(conn, first, first.members, bench_role)
    while len(seeded.teams) < teams:
        team = Team(uuid.uuid4(), _new_ids(PROJECTS_PER_TEAM), _new_ids(MEMBERS_PER_TEAM - 1))
        await _add_projects(conn, seeded, team)
        await _add_members(conn, team, [seeded.user_id, *team.members], bench_role)
        seeded.teams.append(team)


def _new_ids(count: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(count)]


async def _add_projects(conn: asyncpg.Connection, seeded: Seeded, team: Team) -> None:
    await conn.copy_records_to_table(
        "projects",
        columns=["id", "team_id", "name", "description", "starts_on", "due_on", "metadata",
                 "archived", "created_by", "created_at", "updated_at"],
        records=[
            (p, team.id, f"Project {p.hex[:6]}", None, None, None, "{}", False, seeded.user_id,
             seeded.clock, seeded.clock)
            for p in team.projects
        ],
    )  # fmt: skip


async def _add_members(
    conn: asyncpg.Connection, team: Team, users: list[uuid.UUID], role: asyncpg.Record
) -> None:
    """Members as work knows them from teams' events (the bench user leads every team)."""
    now = datetime.now(UTC)
    await conn.copy_records_to_table(
        "member_replicas",
        records=[
            (team.id, user, role["role_id"], role["role_name"], role["permissions"], True, now)
            for user in users
        ],
        columns=["team_id", "user_id", "role_id", "role_name", "permissions", "from_event",
                 "updated_at"],
    )  # fmt: skip


async def _add_tasks(conn: asyncpg.Connection, seeded: Seeded, count: int) -> None:
    tasks, assignees, comments = [], [], []
    others = seeded.teams[1:] or seeded.teams
    for offset in range(count):
        n = seeded.tasks + offset
        # Even tasks go to the bench project, odd ones round the other teams' projects.
        team = seeded.teams[0] if n % 2 == 0 else others[(n // 2) % len(others)]
        project = team.projects[(n // 2) % len(team.projects)] if n % 2 else seeded.project_id
        at = seeded.clock + timedelta(microseconds=10 * n)
        task_id = uuid.uuid4()
        member = team.members[n % len(team.members)]
        tasks.append(
            (task_id, project, team.id, f"Task {n}", f"Seeded task number {n}",
             STATUSES[n % 5], PRIORITIES[n % 4], n % 4, at + timedelta(hours=n % 2000), None,
             json.dumps(["bench"]) if n % 3 == 0 else "[]", json.dumps([str(member)]),
             seeded.user_id, at, at)
        )  # fmt: skip
        assignees.append((task_id, member, seeded.user_id, at))
        if n % COMMENT_EVERY == 0:
            comments.append((uuid.uuid4(), task_id, seeded.user_id, f"Comment on {n}", at, None))
    await conn.copy_records_to_table("tasks", records=tasks, columns=TASK_COLUMNS)
    await conn.copy_records_to_table(
        "task_assignees",
        records=assignees,
        columns=["task_id", "user_id", "assigned_by", "assigned_at"],
    )
    await conn.copy_records_to_table(
        "comments",
        records=comments,
        columns=["id", "task_id", "author_id", "body", "created_at", "edited_at"],
    )
    seeded.tasks += count


async def deep_cursor_row(database_url: str, project_id: uuid.UUID) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) halfway down the bench project's oldest-first list."""
    conn = await asyncpg.connect(database_url)
    try:
        count = await conn.fetchval("SELECT count(*) FROM tasks WHERE project_id = $1", project_id)
        row = await conn.fetchrow(
            "SELECT created_at, id FROM tasks WHERE project_id = $1"
            " ORDER BY created_at, id OFFSET $2 LIMIT 1",
            project_id,
            count // 2,
        )
        return row["created_at"], row["id"]
    finally:
        await conn.close()


async def write_task_ids(database_url: str, path: Path, most: int = 100_000) -> int:
    """Task ids for "get one task" to pick from at random, one a line: every task up to
    ``most``, else a random ``most`` of them spread over the whole data set (wrk's threads
    each hold the list); how many were written."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT id FROM tasks ORDER BY random() LIMIT $1", most)
    finally:
        await conn.close()
    path.write_text("".join(f"{row['id']}\n" for row in rows))  # noqa: ASYNC240 - once a size
    return len(rows)


async def changeable_task_ids(database_url: str, user_id: str) -> list[str]:
    """Every task of the teams the bench user belongs to (it leads each: it may change them
    all), in id order: the bulk change scenario's slices."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT t.id FROM tasks t JOIN member_replicas m"
            " ON m.team_id = t.team_id AND m.user_id = $1 ORDER BY t.id",
            uuid.UUID(user_id),
        )
    finally:
        await conn.close()
    return [str(row["id"]) for row in rows]
