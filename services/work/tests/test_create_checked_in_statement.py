"""A task's create checks the caller's access inside its one statement on PostgreSQL
(``access.Guard.in_one_statement``), once this process has read the project: one round
trip. Whatever that check does not find (a member removed, a role short of a permission,
a project archived or deleted, a member known only from a read-through, a narrow API
token) writes nothing and leaves the answer to the usual guard. So every answer here is
the one SQLite gives (which always reads first), with nothing half-written and each
event published once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select, update
from taskflow_chassis.messaging import outbox_table
from taskflow_chassis.types import table_of
from taskflow_contracts import permissions as P
from taskflow_contracts import teams
from taskflow_contracts.permissions import BUILT_IN_ROLES
from taskflow_work.replica.models import MemberReplica
from taskflow_work.tasks.models import Task

from .conftest import Member, World
from .round_trips import round_trips
from .test_api_tokens import token_headers

_members = table_of(MemberReplica)
_tasks = table_of(Task)


async def _counts(world: World) -> tuple[int, int]:
    """Tasks and outbox rows, all of them."""
    async with world.app.state.database.session() as session:
        tasks = await session.execute(select(func.count()).select_from(_tasks))
        events = await session.execute(select(func.count()).select_from(outbox_table))
        return int(tasks.scalar_one()), int(events.scalar_one())


async def _create(
    world: World, project: dict[str, Any], headers: dict[str, str], **body: Any
) -> Any:
    return await world.client.post(
        f"/api/v1/projects/{project['id']}/tasks",
        headers=headers,
        json={"title": "Checked", **body},
    )


async def _refused(
    world: World, project: dict[str, Any], headers: dict[str, str], answered: int, **body: Any
) -> dict[str, Any]:
    """The create answers ``answered`` and leaves no task and no event behind."""
    before = await _counts(world)
    answer = await _create(world, project, headers, **body)
    assert answer.status_code == answered, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert await _counts(world) == before
    return dict(answer.json())


@contextmanager
def _checkouts(world: World) -> Iterator[list[int]]:
    """How many connections the requests made in this task took from the pool."""
    mine = asyncio.current_task()
    taken: list[int] = [0]

    def checkout(*_args: Any) -> None:
        if asyncio.current_task() is mine:
            taken[0] += 1

    engine = world.app.state.database.engine.sync_engine
    event.listen(engine, "checkout", checkout)
    try:
        yield taken
    finally:
        event.remove(engine, "checkout", checkout)


async def _set_member(world: World, member: Member, team: uuid.UUID, **values: Any) -> None:
    async with world.app.state.database.session() as session:
        await session.execute(
            update(_members)
            .where(_members.c.team_id == team, _members.c.user_id == member.user_id)
            .values(**values)
        )
        await session.commit()


async def test_every_refusal_is_the_guards_and_writes_nothing(world: World) -> None:
    team = await world.team()
    lead = await world.member(team)
    dev = await world.member(team, P.DEVELOPER)
    viewer = await world.member(team, P.VIEWER)
    project = await world.project(team, lead)
    await world.task(project["id"], lead)  # this process has read the project now

    # One round trip where the statement can check it all.
    with round_trips(world.app) as trips:
        made = await _create(world, project, lead.headers, assignee_ids=[str(dev.user_id)])
    assert made.status_code == 201, made.text
    if world.app.state.database.dialect == "postgresql":
        assert len(trips) == 1 and "member_replicas" in trips[0], trips

    assert (await _refused(world, project, world.outsider().headers, 404))["status"] == 404
    assert "tasks.create" in (await _refused(world, project, viewer.headers, 403))["detail"]
    # A developer may create, but not assign nor create it done.
    assignee = [str(dev.user_id)]
    answer = await _refused(world, project, dev.headers, 403, assignee_ids=assignee)
    assert "tasks.assign" in answer["detail"]
    assert (
        "tasks.review"
        in (await _refused(world, project, dev.headers, 403, status="done"))["detail"]
    )
    assert (await _create(world, project, dev.headers)).status_code == 201

    # A token restricted to another team, and one without the scope, whatever the role.
    elsewhere = token_headers(world, lead.user_id, [P.TASKS_CREATE], team=uuid.uuid4())
    await _refused(world, project, elsewhere, 404)
    narrow = token_headers(world, lead.user_id, [P.TASKS_CREATE])
    await _refused(world, project, narrow, 403, assignee_ids=assignee)
    assert (await _create(world, project, narrow)).status_code == 201

    # The member leaves: 404, as for a stranger.
    await world.teams_event(teams.MemberRemoved(team_id=team, user_id=dev.user_id))
    await _refused(world, project, dev.headers, 404)
    # An assignee who is not a member refuses the whole create (422).
    await _refused(world, project, lead.headers, 422, assignee_ids=assignee)

    # Archived: 409, and open again, created at once.
    url = f"/api/v1/projects/{project['id']}"
    assert (await world.client.patch(url, headers=lead.headers, json={"archived": True})).is_success
    assert (await _refused(world, project, lead.headers, 409))["type"].endswith("/project-archived")
    assert (
        await world.client.patch(url, headers=lead.headers, json={"archived": False})
    ).is_success
    assert (await _create(world, project, lead.headers)).status_code == 201

    # Deleted: 404.
    assert (await world.client.delete(url, headers=lead.headers)).status_code == 204
    await _refused(world, project, lead.headers, 404)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_check_not_held_in_the_statement_falls_back_to_the_guard_once(
    world: World,
) -> None:
    """A member the replica knows only from a read-through answer (or whose team waits for
    a resync, ``resync_needed``) is not trusted by the statement's check; the guard's read
    trusts a fresh read-through answer, so the create goes ahead, written and announced
    once."""
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    await world.task(project["id"], lead)
    await world.settle()
    await _set_member(world, lead, team, from_event=False)
    tasks_before, _ = await _counts(world)
    with round_trips(world.app) as trips, _checkouts(world) as checkouts:
        made = await _create(world, project, lead.headers, title="Fell back", assignee_ids=[])
    assert made.status_code == 201, made.text
    # The statement that checked and wrote nothing, the guard's read, the statement again,
    # all on the one connection the request took from the pool (a second would be pinged).
    assert len(trips) == 3 and "member_replicas" in trips[1], trips
    assert checkouts == [1], checkouts
    assert (await _counts(world))[0] == tasks_before + 1
    await world.settle()
    created = [
        e
        for e in world.of_type("taskflow.work.task.created.v1")
        if e.data["task_id"] == made.json()["id"]
    ]
    assert len(created) == 1
    # Back to an event's row: the statement checks it alone again.
    await _set_member(world, lead, team, from_event=True)
    with round_trips(world.app) as trips:
        assert (await _create(world, project, lead.headers)).status_code == 201
    assert len(trips) == 1, trips


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_role_changed_since_the_last_create_is_the_one_checked(world: World) -> None:
    team = await world.team()
    lead = await world.member(team)
    project = await world.project(team, lead)
    await world.task(project["id"], lead)
    viewer_role = world.role_id(team, P.VIEWER)
    await world.teams_event(
        teams.MemberRoleChanged(
            team_id=team,
            user_id=lead.user_id,
            role_id=viewer_role,
            role_name=P.VIEWER,
            permissions=sorted(BUILT_IN_ROLES[P.VIEWER]),
        )
    )
    await _refused(world, project, lead.headers, 403)
