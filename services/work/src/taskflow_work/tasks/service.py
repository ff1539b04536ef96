"""Tasks: the rules of status, assignees and review, with every change in the activity log."""

from __future__ import annotations

import functools
import json
import uuid
from collections import namedtuple
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from taskflow_chassis.pagination import (
    PageParams,
    cursor_values,
    fetch_page,
    keyset_statement,
    paginate_by_time,
)
from taskflow_chassis.problems import ProblemError, invalid_field
from taskflow_chassis.types import UtcDateTime, utcnow
from taskflow_contracts import permissions as P
from taskflow_contracts import work as contract

from taskflow_work import events
from taskflow_work.access import MemberAccess, not_found
from taskflow_work.comments.models import Comment
from taskflow_work.projects.models import Project
from taskflow_work.replica.models import MemberReplica
from taskflow_work.tasks.models import PRIORITY_RANK, Activity, Priority, Status, Task, TaskAssignee
from taskflow_work.tasks.schemas import ActivityRead, TaskCreate, TaskRead, TaskSort, TaskUpdate

# NULL due dates sort last both ways; keyset pagination needs a non-NULL key.
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
FAR_PAST = datetime(1, 1, 2, tzinfo=UTC)


# A page of tasks is only shown: plain rows, named as the attributes of Task, spare
# the ORM's objects.
TASK_COLUMNS = tuple(
    column.label(attribute.key) if attribute.key != column.name else column
    for attribute in inspect(Task).column_attrs
    for column in attribute.columns
)
TaskRow = namedtuple("TaskRow", [attribute.key for attribute in inspect(Task).column_attrs])  # type: ignore[misc]
_members = MemberReplica.__table__  # type: ignore[attr-defined]
_tasks = Task.__table__  # type: ignore[attr-defined]
_assignees = TaskAssignee.__table__  # type: ignore[attr-defined]


def assignees_of(task: Task | Row[Any]) -> list[uuid.UUID]:
    return [uuid.UUID(user_id) for user_id in json.loads(task.assignee_ids_json)]


def _ids_json(user_ids: list[uuid.UUID]) -> str:
    return json.dumps([str(user_id) for user_id in user_ids])


async def _claim_assignees(session: AsyncSession, task: Task) -> list[uuid.UUID]:
    """Hold the task's row for this transaction, then read its assignees as they stand:
    two assignments at once must not both write a list missing the other's change.

    The row is held by writing to it, the one lock every database here takes (SQLite
    has no FOR UPDATE); what is read after the write is the latest committed list.
    """
    held = await session.execute(
        update(_tasks).where(_tasks.c.id == task.id).values(updated_at=utcnow())
    )
    if held.rowcount == 0:  # type: ignore[attr-defined]
        raise not_found("Task")
    latest = await session.execute(select(_tasks.c.assignee_ids).where(_tasks.c.id == task.id))
    set_committed_value(task, "assignee_ids_json", latest.scalar_one())
    return assignees_of(task)


def task_read(task: Task | Row[Any]) -> TaskRead:
    """A task as the API shows it, from the ORM object or a row of its columns."""
    return TaskRead(
        id=task.id,
        project_id=task.project_id,
        team_id=task.team_id,
        title=task.title,
        description=task.description,
        status=Status(task.status),
        priority=Priority(task.priority),
        due_at=task.due_at,
        estimate_hours=task.estimate_hours,
        labels=json.loads(task.labels_json),
        assignee_ids=assignees_of(task),
        created_by=task.created_by,
        created_at=task.created_at,
        updated_at=task.updated_at,
    )


def record(
    session: AsyncSession,
    task_id: uuid.UUID,
    actor: uuid.UUID,
    action: str,
    details: dict[str, Any],
) -> None:
    session.add(
        Activity(
            task_id=task_id,
            actor_id=actor,
            action=action,
            details_json=json.dumps(details, default=str),
        )
    )


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
    if inserted.rowcount == len(user_ids):  # type: ignore[attr-defined]
        return
    rows = (
        await session.execute(
            select(_members.c.user_id, _members.c.from_event, _members.c.resync_needed).where(
                _members.c.team_id == task.team_id, _members.c.user_id.in_(user_ids)
            )
        )
    ).all()
    if any(row.resync_needed for row in rows):
        raise ProblemError(
            503,
            "Membership being refreshed",
            "The team's memberships are being brought up to date; try again in a moment.",
            type="membership-unavailable",
            headers={"Retry-After": "2"},
        )
    known = {row.user_id for row in rows if row.from_event}
    strangers = [str(u) for u in user_ids if u not in known]
    raise invalid_field(
        field,
        "Not a team member",
        "Only members of the project's team can be assigned: " + ", ".join(strangers) + ".",
        type="assignee-not-member",
    )


def _crosses_done(before: str, after: str) -> bool:
    return (before == Status.DONE) != (after == Status.DONE)


async def create_task(
    session: AsyncSession, access: MemberAccess, project: Project, data: TaskCreate
) -> Task:
    access.require(P.TASKS_CREATE)
    if data.status == Status.DONE:
        access.require(P.TASKS_REVIEW)
    if data.assignee_ids:
        access.require(P.TASKS_ASSIGN)
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
        created_by=access.user_id,
    )
    session.add(task)
    await session.flush()  # its rows refer to it, and the ORM knows no relationships to order by
    record(
        session, task.id, access.user_id, "created", {"title": task.title, "status": task.status}
    )
    await _add_assignees(session, task, data.assignee_ids, access.user_id)
    # Announced after the task itself, so consumers meet the task before its assignments.
    await events.publish(
        session,
        contract.TaskCreated(
            task_id=task.id,
            project_id=task.project_id,
            team_id=task.team_id,
            title=task.title,
            status=task.status,
            priority=task.priority,
            due_at=task.due_at,
            assignee_ids=data.assignee_ids,
            created_by=access.user_id,
        ),
        *(_assigned(task, user_id, access.user_id) for user_id in data.assignee_ids),
    )
    await session.commit()
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
    session: AsyncSession, access: MemberAccess, task: Task, data: TaskUpdate
) -> TaskRead:
    changes = data.model_dump(exclude_unset=True)
    for required in ("title", "status", "priority", "labels"):
        if required in changes and changes[required] is None:
            raise invalid_field(
                required, "Value required", f"{required} cannot be null.", type="value-required"
            )
    status = changes.get("status")
    # Moving into or out of done is a review decision; everything else is an edit.
    if status is not None and _crosses_done(task.status, status):
        access.require(P.TASKS_REVIEW)
    if set(changes) - {"status"} or (status is not None and not _crosses_done(task.status, status)):
        access.require(P.TASKS_UPDATE)
    before = _snapshot(task)
    if "labels" in changes:
        task.labels_json = json.dumps(changes.pop("labels"))
    for name, value in changes.items():
        setattr(task, name, value)
    task.priority_rank = PRIORITY_RANK[Priority(task.priority)]
    after = _snapshot(task)
    changed = sorted(k for k in after if after[k] != before[k])
    if not changed:
        return task_read(task)
    task.updated_at = utcnow()
    session.add(task)
    diff = {k: [before[k], after[k]] for k in changed}
    record(
        session,
        task.id,
        access.user_id,
        "status_changed" if changed == ["status"] else "updated",
        diff,
    )
    assignees = assignees_of(task)
    await events.publish(
        session,
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
            assignee_ids=assignees,
            changed=changed,
            updated_by=access.user_id,
        ),
    )
    await session.commit()
    return task_read(task)


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


async def delete_task(session: AsyncSession, access: MemberAccess, task: Task) -> None:
    access.require(P.TASKS_DELETE)
    await _delete_task_rows(session, [task.id])
    await events.publish(
        session,
        contract.TaskDeleted(task_id=task.id, project_id=task.project_id, team_id=task.team_id),
    )
    await session.commit()


async def _delete_task_rows(session: AsyncSession, task_ids: list[uuid.UUID]) -> None:
    if not task_ids:
        return
    for table in (Comment, Activity, TaskAssignee):
        await session.execute(delete(table).where(table.task_id.in_(task_ids)))  # type: ignore[attr-defined]
    await session.execute(delete(Task).where(Task.id.in_(task_ids)))  # type: ignore[attr-defined]


async def delete_project_tasks(session: AsyncSession, project_id: uuid.UUID) -> None:
    ids = list(
        (await session.execute(select(Task.id).where(Task.project_id == project_id))).scalars()
    )  # type: ignore[arg-type]
    await _delete_task_rows(session, ids)


async def assign(
    session: AsyncSession, access: MemberAccess, task: Task, user_id: uuid.UUID
) -> TaskRead:
    access.require(P.TASKS_ASSIGN)
    current = await _claim_assignees(session, task)
    if user_id in current:
        return task_read(task)
    await _add_assignees(session, task, [user_id], access.user_id, field="user_id")
    record(session, task.id, access.user_id, "assigned", {"user_id": str(user_id)})
    await events.publish(session, _assigned(task, user_id, access.user_id))
    task.assignee_ids_json = _ids_json([*current, user_id])
    task.updated_at = utcnow()
    session.add(task)
    await session.commit()
    return task_read(task)


async def unassign(
    session: AsyncSession, access: MemberAccess, task: Task, user_id: uuid.UUID
) -> None:
    access.require(P.TASKS_ASSIGN)
    current = await _claim_assignees(session, task)
    removed = await session.execute(
        delete(TaskAssignee).where(TaskAssignee.task_id == task.id, TaskAssignee.user_id == user_id)  # type: ignore[arg-type]
    )
    if removed.rowcount == 0:  # type: ignore[attr-defined]
        raise ProblemError(
            404,
            "Assignee not found",
            "This user is not assigned to the task.",
            type="assignee-not-found",
        )
    record(session, task.id, access.user_id, "unassigned", {"user_id": str(user_id)})
    await events.publish(
        session, contract.TaskUnassigned(task_id=task.id, team_id=task.team_id, assignee_id=user_id)
    )
    task.assignee_ids_json = _ids_json([u for u in current if u != user_id])
    task.updated_at = utcnow()
    session.add(task)
    await session.commit()


async def unassign_everywhere(
    session: AsyncSession, user_id: uuid.UUID, *, team_id: uuid.UUID | None
) -> None:
    """Someone left a team (or deleted their account): their assignments there end."""
    query = (
        select(TaskAssignee, Task)
        .join(Task, Task.id == TaskAssignee.task_id)
        .where(TaskAssignee.user_id == user_id)
    )  # type: ignore[arg-type]
    if team_id is not None:
        query = query.where(Task.team_id == team_id)  # type: ignore[arg-type]
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
        await events.publish(
            session,
            contract.TaskUnassigned(task_id=task.id, team_id=task.team_id, assignee_id=user_id),
        )


@dataclass
class TaskFilters:
    team_ids: list[uuid.UUID] = field(default_factory=list)
    # Instead of team_ids: the teams where this user's membership came from teams' events
    # (and the team is not waiting for a resync).
    member_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    assignee: uuid.UUID | None = None
    status: Status | None = None
    priority: Priority | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    q: str | None = None
    sort: TaskSort = TaskSort.CREATED_AT_DESC


def _sort_key(sort: TaskSort) -> tuple[ColumnElement[Any], bool]:
    if sort in (TaskSort.DUE_AT, TaskSort.DUE_AT_DESC):
        descending = sort == TaskSort.DUE_AT_DESC
        fill = FAR_PAST if descending else FAR_FUTURE
        return func.coalesce(_tasks.c.due_at, literal(fill, UtcDateTime())), descending
    if sort in (TaskSort.PRIORITY, TaskSort.PRIORITY_DESC):
        return _tasks.c.priority_rank, sort == TaskSort.PRIORITY_DESC
    return _tasks.c.created_at, sort == TaskSort.CREATED_AT_DESC


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _bound_filters(filters: TaskFilters) -> dict[str, Any]:
    """The filters given, as the values of their bound parameters."""
    values: dict[str, Any] = {}
    if filters.member_id is not None:
        values["member_id"] = filters.member_id
    elif len(filters.team_ids) == 1:  # the usual case: = rather than IN
        values["team_id"] = filters.team_ids[0]
    else:
        values["team_ids"] = filters.team_ids
    for name in ("project_id", "assignee", "status", "priority", "due_before", "due_after"):
        if getattr(filters, name):
            values[name] = getattr(filters, name)
    if filters.q:
        values["pattern"] = _like_pattern(filters.q)
    return values


@functools.lru_cache(maxsize=512)
def _page_statement(bound: frozenset[str], sort: TaskSort, after: bool) -> Select[Any]:
    """The page query for one shape of request (which filters, which sort, whether from a
    cursor), built once: a request binds its values into a statement already keyed."""
    if "member_id" in bound:
        query = select(*TASK_COLUMNS).join(
            _members,
            and_(
                _members.c.team_id == _tasks.c.team_id,
                _members.c.user_id == bindparam("member_id"),
                _members.c.from_event.is_(True),
                _members.c.resync_needed.is_(False),
            ),
        )
    elif "team_id" in bound:
        query = select(*TASK_COLUMNS).where(_tasks.c.team_id == bindparam("team_id"))
    else:
        query = select(*TASK_COLUMNS).where(
            _tasks.c.team_id.in_(bindparam("team_ids", expanding=True))
        )
    pattern = bindparam("pattern", type_=String)
    conditions: dict[str, ColumnElement[bool]] = {
        "project_id": _tasks.c.project_id == bindparam("project_id"),
        "assignee": _tasks.c.id.in_(
            select(_assignees.c.task_id).where(_assignees.c.user_id == bindparam("assignee"))
        ),
        "status": _tasks.c.status == bindparam("status"),
        "priority": _tasks.c.priority == bindparam("priority"),
        "due_before": _tasks.c.due_at < bindparam("due_before"),
        "due_after": _tasks.c.due_at > bindparam("due_after"),
        "pattern": or_(
            func.lower(_tasks.c.title).like(pattern, escape="\\"),
            func.lower(func.coalesce(_tasks.c.description, "")).like(pattern, escape="\\"),
        ),
    }
    for name, condition in conditions.items():
        if name in bound:
            query = query.where(condition)
    key, descending = _sort_key(sort)
    return keyset_statement(
        query, key=key, id_column=_tasks.c.id, descending=descending, after=after
    )


async def list_tasks(
    session: AsyncSession, filters: TaskFilters, page: PageParams
) -> tuple[list[TaskRead], str | None]:
    values = _bound_filters(filters)
    key, _ = _sort_key(filters.sort)
    position = cursor_values(page, key=key, id_column=_tasks.c.id)
    statement = _page_statement(frozenset(values), filters.sort, "after_id" in position)
    rows, cursor = await fetch_page(session, statement, page, values | position)
    return [task_read(TaskRow._make(row)) for row in rows], cursor


async def list_activity(
    session: AsyncSession, task_id: uuid.UUID, page: PageParams
) -> tuple[list[ActivityRead], str | None]:
    query = select(Activity).where(Activity.task_id == task_id)  # type: ignore[arg-type]
    rows, cursor = await paginate_by_time(
        session,
        query,
        page,
        time_column=Activity.created_at,
        id_column=Activity.id,  # type: ignore[arg-type]
    )
    return [
        ActivityRead(
            id=a.id,
            task_id=a.task_id,
            actor_id=a.actor_id,
            action=a.action,
            details=json.loads(a.details_json),
            created_at=a.created_at,
        )
        for (a,) in rows
    ], cursor
