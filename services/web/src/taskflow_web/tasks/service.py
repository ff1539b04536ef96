"""Tasks through work's public API: a project's board and list, one task, its changes
(each with ``If-Match``: the version the page showed), its assignees and activity."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from functools import partial
from typing import Any

from taskflow_web.api.service import Api
from taskflow_web.projects import service as projects
from taskflow_web.projects.rules import person_name
from taskflow_web.projects.service import Membership, if_match, version_of
from taskflow_web.replica import rules as replica
from taskflow_web.replica.service import PageCache, Snapshot
from taskflow_web.tasks import rules

TASKS = "/api/v1/tasks"
PAGE_SIZE = 50  # the task list's page ("load more" asks for the next)
# The board's cards at most: its first load stays well under 150 KB (the list has them all).
BOARD_LIMIT = 100


@dataclass
class Board:
    project: dict[str, Any]
    me: Membership
    columns: list[tuple[str, str, list[dict[str, Any]]]]
    more: bool  # more tasks than one board shows: the list has them all
    limit: int = BOARD_LIMIT


@dataclass
class TaskPage:
    project: dict[str, Any]
    me: Membership
    members: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    next_cursor: str | None


def cards(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rules.card(item, version_of(item)) for item in items]


# A project's team never changes: once known, a page asks for the project, the caller's
# membership and the tasks at once (one round trip's wait instead of three).
TEAM_OF: dict[uuid.UUID, str] = {}
TEAMS_KEPT = 10_000

# An answer a project's page reads besides the project and the membership: its name among
# the page's kept answers, and the call (given the team's id).
Ask = tuple[Hashable, Callable[[str], Awaitable[Any]]]


@dataclass(frozen=True)
class Reading:
    """What a project's page read, and the generations it read them at (a part of the
    page rendered from them is kept under the same)."""

    project: dict[str, Any]
    me: Membership
    answers: list[Any]
    snapshot: Snapshot | None


async def project_and_membership(
    api: Api, project_id: uuid.UUID, cache: PageCache, *more: Ask, fresh: bool = False
) -> Reading:
    """The project, the caller's membership of its team (a 404 for an outsider), and the
    answers of ``more`` calls made meanwhile: each kept for the person (``cache``) until
    an event or the person's own change moves its generations; ``fresh``: asked again
    (and kept) whatever is kept."""
    team_id = TEAM_OF.get(project_id)
    if team_id is None:
        found, _tag = await projects.project(api, project_id)
        if len(TEAM_OF) >= TEAMS_KEPT:  # a bound, not a policy: the oldest go first
            TEAM_OF.pop(next(iter(TEAM_OF)))
        TEAM_OF[project_id] = team_id = str(found["team_id"])
        calls = [projects.membership(api, team_id), *(call(team_id) for _, call in more)]
        me, *answers = await asyncio.gather(*calls)
        return Reading(found, me, answers, None)
    person = str(api.session.user_id)
    snapshot = await cache.snapshot(replica.project_scope(person, team_id, project_id), fresh=fresh)

    def kept(name: Hashable, call: Callable[[], Awaitable[Any]]) -> Awaitable[Any]:
        return cache.answer(snapshot, (person, str(project_id), name), call)

    (found, _tag), me, *answers = await asyncio.gather(
        kept("project", lambda: projects.project(api, project_id)),
        kept("me", lambda: projects.membership(api, team_id)),
        *(kept(name, partial(call, team_id)) for name, call in more),
    )
    return Reading(found, me, answers, snapshot)


async def board(
    api: Api, project_id: uuid.UUID, cache: PageCache, *, fresh: bool = False
) -> tuple[Board, Snapshot | None]:
    """The project's tasks in columns by status (a 404 for an outsider), and the
    generations they were read at."""
    params = [("project_id", str(project_id)), ("sort", "-priority"), ("limit", BOARD_LIMIT)]
    read = await project_and_membership(
        api, project_id, cache, ("board", lambda _team: _cards(api, params)), fresh=fresh
    )
    ((shown, cursor),) = read.answers
    columns = [
        (status, name, [task for task in shown if task["status"] == status])
        for status, name in rules.STATUSES
    ]
    return Board(read.project, read.me, columns, bool(cursor)), read.snapshot


async def _cards(api: Api, params: Any) -> tuple[list[dict[str, Any]], str | None]:
    """A page of tasks as cards (each with its version: a hash of its JSON, which costs
    more than the rest of a kept board), and the next page's cursor."""
    page: dict[str, Any] = await api.get(TASKS, params)
    return cards(page.get("items", [])), page.get("next_cursor")


async def task_page(
    api: Api,
    project_id: uuid.UUID,
    filters: rules.TaskFilters,
    cursor: str | None,
    cache: PageCache,
) -> TaskPage:
    """One page of the project's tasks under the list's filters, sort and cursor."""
    params = [*filters.api_params(str(project_id)), ("limit", str(PAGE_SIZE))]
    if cursor:
        params.append(("cursor", cursor))
    read = await project_and_membership(
        api,
        project_id,
        cache,
        (("tasks", tuple(params)), lambda _team: _cards(api, params)),
        ("members", lambda team_id: projects.members(api, team_id)),
    )
    (shown, next_cursor), members = read.answers
    return TaskPage(read.project, read.me, members, shown, next_cursor)


async def task(api: Api, task_id: uuid.UUID) -> dict[str, Any]:
    """One task as the pages show it, with the version its ``ETag`` names."""
    found, tag = await api.get_tagged(f"{TASKS}/{task_id}")
    return rules.card(found, tag or version_of(found))


async def create_task(api: Api, project_id: uuid.UUID, title: str, status: str) -> dict[str, Any]:
    created: dict[str, Any] = await api.post(
        f"{projects.PROJECTS}/{project_id}/tasks", {"title": title, "status": status}
    )
    return created


async def update_task(
    api: Api, task_id: uuid.UUID, changes: dict[str, Any], version: str
) -> dict[str, Any]:
    changed: dict[str, Any] = await api.call(
        "PATCH", f"{TASKS}/{task_id}", json=changes, headers=if_match(version)
    )
    return changed


async def delete_task(api: Api, task_id: uuid.UUID, version: str) -> None:
    await api.call("DELETE", f"{TASKS}/{task_id}", headers=if_match(version))


async def assign(api: Api, task_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await api.post(f"{TASKS}/{task_id}/assignees", {"user_id": str(user_id)})


async def unassign(api: Api, task_id: uuid.UUID, user_id: uuid.UUID, version: str) -> None:
    await api.call("DELETE", f"{TASKS}/{task_id}/assignees/{user_id}", headers=if_match(version))


async def activity(api: Api, task_id: uuid.UUID) -> list[dict[str, Any]]:
    """The task's latest activity, each entry with its actor's name."""
    page: dict[str, Any] = await api.get(f"{TASKS}/{task_id}/activity", {"limit": PAGE_SIZE})
    items: list[dict[str, Any]] = page.get("items", [])
    return [{**item, "actor_name": person_name(item.get("actor"))} for item in items]


async def bulk_update(
    api: Api, task_ids: list[str], changes: dict[str, Any], versions: dict[str, str]
) -> dict[str, Any]:
    """One change to many tasks, all or nothing (the API lists every failing id)."""
    body = {"task_ids": task_ids, "changes": changes, "if_match": versions}
    result: dict[str, Any] = await api.post(f"{TASKS}/bulk", body)
    return result
