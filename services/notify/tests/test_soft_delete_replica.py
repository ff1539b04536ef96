"""Notify's replicas follow teams' and work's soft deletes (issue 18): a deleted team or
project (restorable) keeps its rows here; only its purge, or a v1 deletion still in
flight (which meant erased), erases them. While it is deleted its tasks get no reminder,
assignment or comment notification; restored, they do again. A deletion and a restoration
end as they happened, in whichever order they arrive."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from taskflow_chassis.events import new_event
from taskflow_chassis.types import utcnow
from taskflow_contracts import teams, work
from taskflow_notify.replica.models import ProjectReplica, TaskReplica, TeamReplica

from .conftest import HOUR
from .test_reminders import assigned_task, reminders, run_scan


async def _seeded(world: Any) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    team_id, project_id, task_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await world.event(teams.TeamCreated(team_id=team_id, name="Core", leader_id=uuid.uuid4()))
    await world.event(
        work.ProjectCreated(project_id=project_id, team_id=team_id, name="P", due_on=None)
    )
    await world.event(
        work.TaskCreated(
            task_id=task_id,
            project_id=project_id,
            team_id=team_id,
            title="T",
            status="todo",
            priority="medium",
            due_at=None,
            assignee_ids=[],
            created_by=uuid.uuid4(),
        )
    )
    return team_id, project_id, task_id


async def _present(world: Any, model: Any, key: uuid.UUID) -> bool:
    async with world.app.state.database.session() as session:
        return await session.get(model, key) is not None


async def test_a_deleted_project_stays_until_purged(world: Any) -> None:
    team_id, project_id, task_id = await _seeded(world)
    now = utcnow()
    await world.event(
        work.ProjectDeleted(
            project_id=project_id,
            team_id=team_id,
            deleted_at=now,
            purge_after=now + timedelta(days=30),
        )
    )
    await world.event(work.ProjectRestored(project_id=project_id, team_id=team_id, name="P"))
    assert await _present(world, ProjectReplica, project_id)
    assert await _present(world, TaskReplica, task_id)
    await world.event(work.ProjectPurged(project_id=project_id, team_id=team_id))
    assert not await _present(world, ProjectReplica, project_id)
    assert not await _present(world, TaskReplica, task_id)


async def test_a_deleted_team_stays_until_purged(world: Any) -> None:
    team_id, project_id, task_id = await _seeded(world)
    now = utcnow()
    await world.event(
        teams.TeamDeleted(
            team_id=team_id, deleted_at=now, purge_after=now + timedelta(days=30), team_seq=2
        )
    )
    assert await _present(world, TeamReplica, team_id)
    assert await _present(world, TaskReplica, task_id)
    await world.event(teams.TeamPurged(team_id=team_id, team_seq=3))
    assert not await _present(world, TeamReplica, team_id)
    assert not await _present(world, ProjectReplica, project_id)
    assert not await _present(world, TaskReplica, task_id)


async def test_a_v1_deletion_in_flight_still_erases(world: Any) -> None:
    team_id, project_id, _ = await _seeded(world)
    await world.event(work.ProjectDeletedV1(project_id=project_id, team_id=team_id))
    assert not await _present(world, ProjectReplica, project_id)
    await world.event(teams.TeamDeletedV1(team_id=team_id, team_seq=None))
    assert not await _present(world, TeamReplica, team_id)


def _project_deleted(task: dict[str, Any], deleted_at: datetime) -> work.ProjectDeleted:
    return work.ProjectDeleted(
        project_id=task["project_id"],
        team_id=task["team_id"],
        deleted_at=deleted_at,
        purge_after=deleted_at + timedelta(days=30),
    )


def _project_restored(task: dict[str, Any]) -> work.ProjectRestored:
    return work.ProjectRestored(project_id=task["project_id"], team_id=task["team_id"], name="P")


async def test_a_deleted_projects_task_is_reminded_of_only_after_its_restoration(
    world: Any,
) -> None:
    team_id = uuid.uuid4()
    dev = await world.person("dev", team_id=team_id)
    # Its project was created before notify listened: the deletion alone hides it.
    task = await assigned_task(world, 10 * HOUR, dev, team_id)
    await world.event(_project_deleted(task, utcnow()))
    assert await run_scan(world) == 0
    assert reminders(world) == []
    assert "task_due" not in [n["kind"] for n in await world.feed(dev)]
    await world.event(_project_restored(task))
    assert await run_scan(world) == 1
    [message] = reminders(world)
    assert message["To"] == "dev@example.com"
    assert [n["kind"] for n in await world.feed(dev)] == ["task_due", "task_assigned"]
    assert await run_scan(world, HOUR) == 0  # once per due time, as ever


async def test_a_deleted_teams_task_is_reminded_of_only_after_its_restoration(
    world: Any,
) -> None:
    team_id = uuid.uuid4()
    dev = await world.person("dev", team_id=team_id)
    await world.event(teams.TeamCreated(team_id=team_id, name="Core", leader_id=dev["id"]))
    await assigned_task(world, 10 * HOUR, dev, team_id)
    now = utcnow()
    await world.event(
        teams.TeamDeleted(
            team_id=team_id, deleted_at=now, purge_after=now + timedelta(days=30), team_seq=2
        )
    )
    assert await run_scan(world) == 0
    assert reminders(world) == []
    await world.event(teams.TeamRestored(team_id=team_id, name="Core", team_seq=3))
    assert await run_scan(world) == 1
    assert len(reminders(world)) == 1


async def test_a_deletion_and_a_restoration_end_as_they_happened_in_any_order(
    world: Any,
) -> None:
    team_id = uuid.uuid4()
    dev = await world.person("dev", team_id=team_id)
    task = await assigned_task(world, 10 * HOUR, dev, team_id)
    deleted_at = utcnow() - timedelta(minutes=1)
    deletion = new_event(
        work.ProjectDeleted.event_type,
        source="/taskflow/work",
        data=_project_deleted(task, deleted_at),
    )
    restoration = new_event(
        work.ProjectRestored.event_type, source="/taskflow/work", data=_project_restored(task)
    ).model_copy(update={"time": deleted_at + timedelta(seconds=5)})
    # The restoration arrives first, its deletion (retried, say) after it: still restored.
    await world.redeliver(restoration)
    await world.redeliver(deletion)
    async with world.app.state.database.session() as session:
        project = await session.get(ProjectReplica, task["project_id"])
    assert project is not None and project.deleted_at is None and project.name == "P"
    # Deleted again later: hidden, whatever came before.
    await world.event(_project_deleted(task, deleted_at + timedelta(seconds=10)))
    await world.redeliver(restoration)  # a replayed copy of the old restoration: no effect
    assert await run_scan(world) == 0
    await world.event(_project_restored(task))
    assert await run_scan(world) == 1


async def test_no_assignment_or_comment_notification_about_a_deleted_projects_task(
    world: Any,
) -> None:
    team_id = uuid.uuid4()
    lead = await world.person("lead", team_id=team_id)
    dev = await world.person("dev", team_id=team_id)
    task = {"task_id": uuid.uuid4(), "project_id": uuid.uuid4(), "team_id": team_id}
    await world.event(
        work.TaskCreated(
            **task,
            title="Spec",
            status="todo",
            priority="high",
            due_at=None,
            assignee_ids=[],
            created_by=lead["id"],
        )
    )
    await world.event(_project_deleted(task, utcnow()))
    # Events already in flight when the project was deleted.
    await world.event(
        work.TaskAssigned(
            **task, title="Spec", due_at=None, assignee_id=dev["id"], assigned_by=lead["id"]
        )
    )
    comment = {"comment_id": uuid.uuid4(), "author_id": dev["id"], "excerpt": "on it"}
    await world.event(work.CommentCreated(**task, **comment))
    assert await world.feed(dev) == [] and await world.feed(lead) == []
    await world.event(_project_restored(task))
    await world.event(work.CommentCreated(**task, **{**comment, "comment_id": uuid.uuid4()}))
    assert [n["kind"] for n in await world.feed(lead)] == ["task_commented"]
