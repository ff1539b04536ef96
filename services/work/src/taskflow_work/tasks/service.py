"""Tasks: create, change, delete, assign; every change in the task's activity log.

The caller is authorized by the route (taskflow_work.access and tasks.rules) before
any of these runs.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Protocol, cast

from sqlalchemy import delete, insert, literal, select, update
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col
from taskflow_chassis.problems import ProblemError, invalid_field, not_found
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts import work as contract

from taskflow_work.activity.models import Activity
from taskflow_work.activity.service import record
from taskflow_work.comments.models import Comment
from taskflow_work.replica.models import MemberReplica
from taskflow_work.replica.queries import load_names
from taskflow_work.tasks.models import PRIORITY_RANK, Priority, Task, TaskAssignee
from taskflow_work.tasks.queries import assignees_of, task_read
from taskflow_work.tasks.schemas import TaskCreate, TaskRead

_tasks = table_of(Task)
_assignees = table_of(TaskAssignee)
_members = table_of(MemberReplica)


class ProjectOfTask(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def team_id(self) -> uuid.UUID: ...


async def task_shown(session: AsyncSession, task: Task) -> TaskRead:
    """A task just written, as the API shows it: its people's names in one more statement."""
    return task_read(task, await load_names(session, [task.created_by, *assignees_of(task)]))


def _ids_json(user_ids: list[uuid.UUID]) -> str:
    return json.dumps([str(user_id) for user_id in user_ids])


def _rowcount(result: Result[Any]) -> int:
    # An INSERT, UPDATE or DELETE answers a CursorResult, which counts the rows it touched.
    return cast("CursorResult[Any]", result).rowcount


async def _claim_assignees(session: AsyncSession, task: Task) -> list[uuid.UUID]:
    """Hold the task's row for this transaction, then read its assignees as they stand:
    two assignments at once must not both write a list missing the other's change.

    The row is held by writing to it, the one lock every database here takes (SQLite
    has no FOR UPDATE); what is read after the write is the latest committed list.
    """
    held = await session.execute(
        update(_tasks).where(_tasks.c.id == task.id).values(updated_at=utcnow())
    )
    if _rowcount(held) == 0:
        raise not_found("Task")
    latest = await session.execute(select(_tasks.c.assignee_ids).where(_tasks.c.id == task.id))
    set_committed_value(task, "assignee_ids_json", latest.scalar_one())
    return assignees_of(task)


async def _add_assignees(
    session: AsyncSession,
    task: Task,
    user_ids: list[uuid.UUID],
    by: uuid.UUID,
    field: str = "assignee_ids",
) -> None:
    """Assign ``user_ids`` (distinct) to the task: one statement both checks that each is
    a member of the task's team and inserts the assignment. Anyone else refuses the
    whole request, and the caller's transaction, never committed, keeps nothing."""
    if not user_ids:
        return
    members = select(
        literal(task.id, _assignees.c.task_id.type),
        _members.c.user_id,
        literal(by, _assignees.c.assigned_by.type),
        literal(utcnow(), _assignees.c.assigned_at.type),
    ).where(
        _members.c.team_id == task.team_id,
        _members.c.user_id.in_(user_ids),
        # Only memberships teams' events confirmed, of a team whose events are all here: a
        # read-through answer or a team waiting for its resync may be a removed member.
        _members.c.from_event.is_(True),
        _members.c.resync_needed.is_(False),
    )
    inserted = await session.execute(
        insert(_assignees).from_select(
            ["task_id", "user_id", "assigned_by", "assigned_at"], members
        )
    )
    if _rowcount(inserted) != len(user_ids):
        raise await _assignment_refused(session, task, user_ids, field)


async def _assignment_refused(
    session: AsyncSession, task: Task, user_ids: list[uuid.UUID], field: str
) -> ProblemError:
    """Why some of ``user_ids`` could not be assigned: their team is being resynced (503),
    or they are not confirmed members of it (422)."""
    rows = (
        await session.execute(
            select(_members.c.user_id, _members.c.from_event, _members.c.resync_needed).where(
                _members.c.team_id == task.team_id, _members.c.user_id.in_(user_ids)
            )
        )
    ).all()
    if any(row.resync_needed for row in rows):
        return ProblemError(
            503,
            "Membership being refreshed",
            "The team's memberships are being brought up to date; try again in a moment.",
            type="membership-unavailable",
            headers={"Retry-After": "2"},
        )
    known = {row.user_id for row in rows if row.from_event}
    strangers = [str(u) for u in user_ids if u not in known]
    return invalid_field(
        field,
        "Not a team member",
        "Only members of the project's team can be assigned: " + ", ".join(strangers) + ".",
        type="assignee-not-member",
    )


async def create_task(
    uow: UnitOfWork, creator: uuid.UUID, project: ProjectOfTask, data: TaskCreate
) -> Task:
    session = uow.session
    task = Task(
        project_id=project.id,
        team_id=project.team_id,
        title=data.title,
        description=data.description,
        status=data.status,
        priority=data.priority,
        priority_rank=PRIORITY_RANK[data.priority],
        due_at=data.due_at,
        estimate_hours=data.estimate_hours,
        labels_json=json.dumps(data.labels),
        assignee_ids_json=_ids_json(data.assignee_ids),
        created_by=creator,
    )
    session.add(task)
    await session.flush()  # its rows refer to it, and the ORM knows no relationships to order by
    record(session, task.id, creator, "created", {"title": task.title, "status": task.status})
    await _add_assignees(session, task, data.assignee_ids, creator)
    # Announced after the task itself, so consumers meet the task before its assignments.
    uow.publish(
        contract.TaskCreated(
            task_id=task.id,
            project_id=task.project_id,
            team_id=task.team_id,
            title=task.title,
            status=task.status,
            priority=task.priority,
            due_at=task.due_at,
            assignee_ids=data.assignee_ids,
            created_by=creator,
        ),
        *(_assigned(task, user_id, creator) for user_id in data.assignee_ids),
    )
    await uow.commit()
    return task


def _assigned(task: Task, user_id: uuid.UUID, by: uuid.UUID) -> contract.TaskAssigned:
    return contract.TaskAssigned(
        task_id=task.id,
        project_id=task.project_id,
        team_id=task.team_id,
        title=task.title,
        due_at=task.due_at,
        assignee_id=user_id,
        assigned_by=by,
    )


async def update_task(
    uow: UnitOfWork, editor: uuid.UUID, task: Task, changes: dict[str, Any]
) -> TaskRead:
    """Apply ``changes`` (the fields the request set, none of the required ones null)."""
    before = _snapshot(task)
    if "labels" in changes:
        task.labels_json = json.dumps(changes.pop("labels"))
    for name, value in changes.items():
        setattr(task, name, value)
    task.priority_rank = PRIORITY_RANK[Priority(task.priority)]
    after = _snapshot(task)
    changed = sorted(k for k in after if after[k] != before[k])
    if not changed:
        return await task_shown(uow.session, task)
    task.updated_at = utcnow()
    uow.session.add(task)
    diff = {k: [before[k], after[k]] for k in changed}
    action = "status_changed" if changed == ["status"] else "updated"
    record(uow.session, task.id, editor, action, diff)
    uow.publish(
        contract.TaskUpdated(
            task_id=task.id,
            project_id=task.project_id,
            team_id=task.team_id,
            title=task.title,
            description=task.description,
            status=task.status,
            priority=task.priority,
            due_at=task.due_at,
            estimate_hours=task.estimate_hours,
            labels=json.loads(task.labels_json),
            assignee_ids=assignees_of(task),
            changed=changed,
            updated_by=editor,
        )
    )
    await uow.commit()
    return await task_shown(uow.session, task)


def _snapshot(task: Task) -> dict[str, Any]:
    return {
        "title": task.title,
        "description": task.description,
        "status": str(task.status),
        "priority": str(task.priority),
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "estimate_hours": task.estimate_hours,
        "labels": json.loads(task.labels_json),
    }


async def delete_task(uow: UnitOfWork, task: Task) -> None:
    await _delete_task_rows(uow.session, [task.id])
    uow.publish(
        contract.TaskDeleted(task_id=task.id, project_id=task.project_id, team_id=task.team_id)
    )
    await uow.commit()


async def _delete_task_rows(session: AsyncSession, task_ids: list[uuid.UUID]) -> None:
    # Explicit deletes, children first: no reliance on each database's cascade support.
    if not task_ids:
        return
    await session.execute(delete(Comment).where(col(Comment.task_id).in_(task_ids)))
    await session.execute(delete(Activity).where(col(Activity.task_id).in_(task_ids)))
    await session.execute(delete(TaskAssignee).where(col(TaskAssignee.task_id).in_(task_ids)))
    await session.execute(delete(Task).where(col(Task.id).in_(task_ids)))


async def delete_project_tasks(session: AsyncSession, project_id: uuid.UUID) -> None:
    ids = list(
        (await session.execute(select(col(Task.id)).where(col(Task.project_id) == project_id)))
        .scalars()
        .all()
    )
    await _delete_task_rows(session, ids)


async def assign(uow: UnitOfWork, by: uuid.UUID, task: Task, user_id: uuid.UUID) -> TaskRead:
    session = uow.session
    current = await _claim_assignees(session, task)
    if user_id in current:
        return await task_shown(uow.session, task)
    await _add_assignees(session, task, [user_id], by, field="user_id")
    record(session, task.id, by, "assigned", {"user_id": str(user_id)})
    uow.publish(_assigned(task, user_id, by))
    task.assignee_ids_json = _ids_json([*current, user_id])
    task.updated_at = utcnow()
    session.add(task)
    await uow.commit()
    return await task_shown(uow.session, task)


async def unassign(uow: UnitOfWork, by: uuid.UUID, task: Task, user_id: uuid.UUID) -> None:
    session = uow.session
    current = await _claim_assignees(session, task)
    removed = await session.execute(
        delete(TaskAssignee).where(
            col(TaskAssignee.task_id) == task.id, col(TaskAssignee.user_id) == user_id
        )
    )
    if _rowcount(removed) == 0:
        raise ProblemError(
            404,
            "Assignee not found",
            "This user is not assigned to the task.",
            type="assignee-not-found",
        )
    record(session, task.id, by, "unassigned", {"user_id": str(user_id)})
    uow.publish(contract.TaskUnassigned(task_id=task.id, team_id=task.team_id, assignee_id=user_id))
    task.assignee_ids_json = _ids_json([u for u in current if u != user_id])
    task.updated_at = utcnow()
    session.add(task)
    await uow.commit()


async def unassign_everywhere(
    uow: UnitOfWork, user_id: uuid.UUID, team_id: uuid.UUID | None
) -> None:
    """Someone left a team (``None``: deleted their account): their assignments there end.
    In the caller's unit of work, which commits."""
    session = uow.session
    query = (
        select(TaskAssignee, Task)
        .join(Task, col(Task.id) == col(TaskAssignee.task_id))
        .where(col(TaskAssignee.user_id) == user_id)
    )
    if team_id is not None:
        query = query.where(col(Task.team_id) == team_id)
    for assignment, task in (await session.execute(query)).all():
        await session.delete(assignment)
        current = await _claim_assignees(session, task)
        task.assignee_ids_json = _ids_json([u for u in current if u != user_id])
        session.add(task)
        record(
            session,
            task.id,
            user_id,
            "unassigned",
            {"user_id": str(user_id), "reason": "left the team"},
        )
        uow.publish(
            contract.TaskUnassigned(task_id=task.id, team_id=task.team_id, assignee_id=user_id)
        )
