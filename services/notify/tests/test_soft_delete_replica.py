"""Notify's replicas follow teams' and work's soft deletes (issue 18): a deleted team or
project (restorable) keeps its rows here; only its purge, or a v1 deletion still in
flight (which meant erased), erases them."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from taskflow_chassis.types import utcnow
from taskflow_contracts import teams, work
from taskflow_notify.replica.models import ProjectReplica, TaskReplica, TeamReplica


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
