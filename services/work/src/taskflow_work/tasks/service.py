"""Tasks: create, change, delete, assign; every change in the task's activity log.

The caller is authorized by the route (taskflow_work.access and tasks.rules) before
any of these runs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy import Insert, column, delete, insert, literal, select, table, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col
from taskflow_chassis.problems import ProblemError, invalid_field, not_found
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts import work as contract

from taskflow_work.activity.models import Activity
from taskflow_work.activity.service import activity_insert, record
from taskflow_work.replica.models import MemberReplica
from taskflow_work.replica.queries import load_names
from taskflow_work.tasks.models import PRIORITY_RANK, Priority, Task, TaskAssignee
from taskflow_work.tasks.queries import (
    assignees_of,
    hold_task,
    task_read,
    write_at_once,
)
from taskflow_work.tasks.schemas import TaskCreate, TaskRead

_tasks = table_of(Task)
_assignees = table_of(TaskAssignee)
_members = table_of(MemberReplica)
# The comments table by name: comments/ imports tasks/ (its writes go through
# tasks.queries.write_at_once), not the other way round.
_COMMENTS = table("comments", column("task_id"))


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


def _column_values(task: Task, attributes: Iterable[str]) -> dict[str, Any]:
    """The task's ``attributes`` by the names of their columns, for a Core statement."""
    columns = sa_inspect(Task).column_attrs
    return {columns[name].columns[0].name: getattr(task, name) for name in attributes}


async def _claim_assignees(
    session: AsyncSession, task: Task, *, held: bool = False
) -> list[uuid.UUID]:
    """Hold the task's row for this transaction, then read its assignees as they stand:
    two assignments at once must not both write a list missing the other's change.
    ``held``: the access check already did both (access.task_access's ``hold``)."""
    if held:
        return assignees_of(task)
    listed = await hold_task(session, task.id, utcnow())
    if listed is None:
        raise not_found("Task")
    set_committed_value(task, "assignee_ids_json", listed)
    return assignees_of(task)


def _assignees_insert(task: Task, user_ids: list[uuid.UUID], by: uuid.UUID) -> Insert | None:
    """Assign ``user_ids`` (distinct) to the task, each only if a confirmed member of the
    task's team: the statement both checks and inserts, and the caller compares how many
    rows it wrote with ``len(user_ids)`` (``_assignment_refused`` says why not)."""
    if not user_ids:
        return None
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
    return insert(_assignees).from_select(
        ["task_id", "user_id", "assigned_by", "assigned_at"], members
    )


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
) -> TaskRead:
    """The task, its activity entry, its assignments (each checked to be a member) and its
    events: one statement on PostgreSQL (tasks.queries.write_at_once), then the commit."""
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
    assignments = _assignees_insert(task, data.assignee_ids, creator)
    assigned, names = await write_at_once(
        uow.session,
        insert(_tasks).values(_column_values(task, sa_inspect(Task).column_attrs.keys())),
        activity_insert(task.id, creator, "created", {"title": task.title, "status": task.status}),
        assignments,
        uow.take_outbox_insert(),
        counted=assignments,
        people=[creator, *data.assignee_ids],
    )
    if assigned != len(data.assignee_ids):
        raise await _assignment_refused(uow.session, task, data.assignee_ids, "assignee_ids")
    await uow.commit()
    return task_read(task, names)


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
    """Apply ``changes`` (the fields the request set, none of the required ones null): the
    row, its activity entry and the event in one statement on PostgreSQL, then the commit."""
    before = _snapshot(task)
    if "labels" in changes:
        changes["labels_json"] = json.dumps(changes.pop("labels"))
    if "priority" in changes:
        changes["priority_rank"] = PRIORITY_RANK[Priority(changes["priority"])]
    # Set as the row will be, not as the ORM's pending change: the row is written below.
    for name, value in changes.items():
        set_committed_value(task, name, value)
    after = _snapshot(task)
    changed = sorted(k for k in after if after[k] != before[k])
    if not changed:
        return await task_shown(uow.session, task)
    set_committed_value(task, "updated_at", utcnow())
    diff = {k: [before[k], after[k]] for k in changed}
    action = "status_changed" if changed == ["status"] else "updated"
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
    row = update(_tasks).where(_tasks.c.id == task.id)
    _, names = await write_at_once(
        uow.session,
        row.values(_column_values(task, [*changes, "updated_at"])),
        activity_insert(task.id, editor, action, diff),
        uow.take_outbox_insert(),
        people=[task.created_by, *assignees_of(task)],
    )
    await uow.commit()
    return task_read(task, names)


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
    await session.execute(delete(_COMMENTS).where(_COMMENTS.c.task_id.in_(task_ids)))
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


async def assign(
    uow: UnitOfWork, by: uuid.UUID, task: Task, user_id: uuid.UUID, *, held: bool = False
) -> TaskRead:
    """``held``: the task's row is held and ``task`` read as it stands (access.py)."""
    session = uow.session
    current = await _claim_assignees(session, task, held=held)
    if user_id in current:
        return await task_shown(session, task)
    set_committed_value(task, "assignee_ids_json", _ids_json([*current, user_id]))
    set_committed_value(task, "updated_at", utcnow())
    uow.publish(_assigned(task, user_id, by))
    assignment = _assignees_insert(task, [user_id], by)
    assigned, names = await write_at_once(
        session,
        assignment,
        update(_tasks)
        .where(_tasks.c.id == task.id)
        .values(_column_values(task, ["assignee_ids_json", "updated_at"])),
        activity_insert(task.id, by, "assigned", {"user_id": str(user_id)}),
        uow.take_outbox_insert(),
        counted=assignment,
        people=[task.created_by, *current, user_id],
    )
    if assigned != 1:
        raise await _assignment_refused(session, task, [user_id], "user_id")
    await uow.commit()
    return task_read(task, names)


async def unassign(
    uow: UnitOfWork, by: uuid.UUID, task: Task, user_id: uuid.UUID, *, held: bool = False
) -> None:
    session = uow.session
    current = await _claim_assignees(session, task, held=held)
    if user_id not in current:
        raise ProblemError(
            404,
            "Assignee not found",
            "This user is not assigned to the task.",
            type="assignee-not-found",
        )
    set_committed_value(task, "assignee_ids_json", _ids_json([u for u in current if u != user_id]))
    set_committed_value(task, "updated_at", utcnow())
    uow.publish(contract.TaskUnassigned(task_id=task.id, team_id=task.team_id, assignee_id=user_id))
    await write_at_once(
        session,
        delete(_assignees).where(_assignees.c.task_id == task.id, _assignees.c.user_id == user_id),
        update(_tasks)
        .where(_tasks.c.id == task.id)
        .values(_column_values(task, ["assignee_ids_json", "updated_at"])),
        activity_insert(task.id, by, "unassigned", {"user_id": str(user_id)}),
        uow.take_outbox_insert(),
    )
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
