"""Tasks: create, change, delete, assign; every change in the task's activity log.

The caller is authorized by the route (taskflow_work.access and tasks.rules) before
any of these runs, except ``create_task_at_once``, whose one statement carries the check
(``access.Guard.in_one_statement``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import (
    Delete,
    Insert,
    Update,
    and_,
    bindparam,
    column,
    delete,
    exists,
    insert,
    literal,
    select,
    table,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col
from taskflow_chassis.bound import BoundWrite, bound_row, bound_update
from taskflow_chassis.db import commits_each_statement, dialect_of_session
from taskflow_chassis.etags import etag_of, parse_tags, strong_match
from taskflow_chassis.problems import ProblemError, invalid_field, not_found
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts import permissions as P
from taskflow_contracts import work as contract

from taskflow_work.access import Guard
from taskflow_work.activity.models import Activity
from taskflow_work.activity.service import activity_insert, record
from taskflow_work.replica.models import MemberReplica
from taskflow_work.replica.queries import load_names
from taskflow_work.tasks import rules
from taskflow_work.tasks.models import PRIORITY_RANK, Priority, Task, TaskAssignee
from taskflow_work.tasks.queries import (
    NAME_FIELDS,
    CountFellShort,
    Precondition,
    PreconditionFailed,
    TaskRow,
    assignees_of,
    hold_task,
    task_read,
    write_at_once,
)
from taskflow_work.tasks.schemas import (
    TaskBulkChanges,
    TaskBulkResult,
    TaskBulkUpdate,
    TaskCreate,
    TaskRead,
)

_tasks = table_of(Task)
_assignees = table_of(TaskAssignee)
_members = table_of(MemberReplica)
# The comments table by name: comments/ imports tasks/ (its writes go through
# tasks.queries.write_at_once), not the other way round.
_COMMENTS = table("comments", column("task_id"))

# Built once, their values bound on each run (taskflow_chassis.bound: building and keying a
# statement for SQLAlchemy's cache costs more CPU than running it).
# ``_assignees_insert``'s: each listed user assigned only if a confirmed member of the team
# (a read-through answer or a team waiting for its resync may be a removed member).
_ASSIGN_MEMBERS = insert(_assignees).from_select(
    ["task_id", "user_id", "assigned_by", "assigned_at"],
    select(
        bindparam("assign_task_id", type_=_assignees.c.task_id.type),
        _members.c.user_id,
        bindparam("assign_by", type_=_assignees.c.assigned_by.type),
        bindparam("assign_at", type_=_assignees.c.assigned_at.type),
    ).where(
        _members.c.team_id == bindparam("assign_team_id", type_=_members.c.team_id.type),
        _members.c.user_id.in_(bindparam("assign_user_ids", expanding=True)),
        _members.c.from_event.is_(True),
        _members.c.resync_needed.is_(False),
    ),
)
_UNASSIGN = delete(_assignees).where(
    _assignees.c.task_id == bindparam("unassign_task_id", type_=_assignees.c.task_id.type),
    _assignees.c.user_id == bindparam("unassign_user_id", type_=_assignees.c.user_id.type),
)


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


# A new task's columns by attribute (Task's attributes, TaskRow's fields): the column
# names differ for a few (``labels_json`` is ``labels``).
_NEW_TASK_COLUMNS = {
    name: sa_inspect(Task).column_attrs[name].columns[0].name
    for name in TaskRow._fields
    if name not in NAME_FIELDS
}


def _new_task_values(task: TaskRow, priority_rank: int) -> dict[str, Any]:
    """A new task's row by column name (its insert's values)."""
    values = {column: getattr(task, name) for name, column in _NEW_TASK_COLUMNS.items()}
    values["priority_rank"] = priority_rank
    return values


def _task_columns(task: Task, attributes: Iterable[str]) -> BoundWrite:
    """The task's row gets its ``attributes`` as they now are (a template per set)."""
    return bound_update(_tasks, "task", ("id", task.id), _column_values(task, attributes))


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


def _assignees_insert(
    task: Task | TaskRow, user_ids: list[uuid.UUID], by: uuid.UUID
) -> BoundWrite | None:
    """Assign ``user_ids`` (distinct) to the task, each only if a confirmed member of the
    task's team: the statement both checks and inserts, and the caller compares how many
    rows it wrote with ``len(user_ids)`` (``_assignment_refused`` says why not)."""
    if not user_ids:
        return None
    values = {
        "assign_task_id": task.id,
        "assign_team_id": task.team_id,
        "assign_user_ids": list(user_ids),
        "assign_by": by,
        "assign_at": utcnow(),
    }
    return BoundWrite(_ASSIGN_MEMBERS, values)


async def _assignment_refused(
    session: AsyncSession, task: Task | TaskRow, user_ids: list[uuid.UUID], field: str
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


async def create_task_at_once(
    uow: UnitOfWork, guard: Guard, project_id: uuid.UUID, data: TaskCreate
) -> TaskRead | None:
    """A task's create that checks the caller's access in its own statement, one round
    trip in all; None where it cannot (not on PostgreSQL, in a transaction, a project
    this process has not read yet) or its check did not hold, having written nothing:
    the route then authorizes as for any write and calls ``create_task``."""
    if dialect_of_session(uow.session) != "postgresql" or not commits_each_statement(uow.session):
        return None  # in a transaction a failed statement would undo the request's
    needed = [P.TASKS_CREATE, *rules.permissions_to_create(data.status, data.assignee_ids)]
    project = guard.in_one_statement(project_id, needed)
    if project is None:
        return None
    try:
        return await create_task(
            uow, guard.caller.user_id, project, data, precondition=project.precondition
        )
    except PreconditionFailed:
        # It wrote nothing, and took its events with it. No rollback: on a connection in
        # autocommit there is nothing to undo, and the guard's read keeps the connection.
        return None


async def create_task(
    uow: UnitOfWork,
    creator: uuid.UUID,
    project: ProjectOfTask,
    data: TaskCreate,
    *,
    precondition: Precondition | None = None,
) -> TaskRead:
    """The task, its activity entry, its assignments (each checked to be a member) and its
    events: one statement on PostgreSQL (tasks.queries.write_at_once), then the commit."""
    # A plain row, not the ORM's Task: it is only written and shown, and an ORM object
    # costs more to build (attribute events, defaults) than the statement takes to run.
    now = utcnow()
    task = TaskRow(
        id=uuid.uuid4(),
        project_id=project.id,
        team_id=project.team_id,
        title=data.title,
        description=data.description,
        status=data.status,
        priority=data.priority,
        due_at=data.due_at,
        estimate_hours=data.estimate_hours,
        labels_json=json.dumps(data.labels),
        assignee_ids_json=_ids_json(data.assignee_ids),
        created_by=creator,
        created_at=now,
        updated_at=now,
        creator_entry=None,
        assignee_entries=None,
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
        *(assigned_event(task, user_id, creator) for user_id in data.assignee_ids),
    )
    assignments = _assignees_insert(task, data.assignee_ids, creator)
    try:
        _, names = await write_at_once(
            uow.session,
            bound_row(_tasks, "task", _new_task_values(task, PRIORITY_RANK[data.priority])),
            activity_insert(
                task.id, creator, "created", {"title": task.title, "status": task.status}
            ),
            assignments,
            uow.take_outbox_insert(),
            counted=assignments,
            required=len(data.assignee_ids),
            people=[creator, *data.assignee_ids],
            precondition=precondition,
        )
    except CountFellShort:
        await uow.rollback()  # nothing of it stays
        raise await _assignment_refused(
            uow.session, task, data.assignee_ids, "assignee_ids"
        ) from None
    await uow.commit()
    return task_read(task, names)


def assigned_event(
    task: Task | TaskRow, user_id: uuid.UUID, by: uuid.UUID
) -> contract.TaskAssigned:
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
    before = snapshot(task)
    if "labels" in changes:
        changes["labels_json"] = json.dumps(changes.pop("labels"))
    if "priority" in changes:
        changes["priority_rank"] = PRIORITY_RANK[Priority(changes["priority"])]
    # Set as the row will be, not as the ORM's pending change: the row is written below.
    for name, value in changes.items():
        set_committed_value(task, name, value)
    after = snapshot(task)
    diff = difference(before, after)
    changed = sorted(diff)
    if not changed:
        return await task_shown(uow.session, task)
    set_committed_value(task, "updated_at", utcnow())
    action = edit_action(changed)
    uow.publish(updated_event(task, changed, editor))
    # The row's write, counted, is what holds the task: the access read did not, and a
    # delete committed since leaves it nothing to write (404, not the activity entry's
    # foreign key failing as a 500).
    written = _task_columns(task, [*changes, "updated_at"])
    try:
        _, names = await write_at_once(
            uow.session,
            written,
            activity_insert(task.id, editor, action, diff),
            uow.take_outbox_insert(),
            counted=written,
            required=1,
            people=[task.created_by, *assignees_of(task)],
        )
    except CountFellShort:
        await uow.rollback()  # nothing of it stays
        raise not_found("Task") from None
    await uow.commit()
    return task_read(task, names)


def updated_event(
    task: Task | TaskRow, changed: list[str], editor: uuid.UUID
) -> contract.TaskUpdated:
    """What a change of ``changed`` announces: the task's fields as they now are."""
    return contract.TaskUpdated(
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


def difference(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """The fields of two snapshots that differ, each as [before, after], by name."""
    return {k: [before[k], after[k]] for k in sorted(after) if after[k] != before[k]}


def edit_action(changed: list[str]) -> str:
    """The activity entry's action for a change of the fields ``changed``."""
    return "status_changed" if changed == ["status"] else "updated"


def snapshot(task: Task | TaskRow) -> dict[str, Any]:
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
    uow.publish(assigned_event(task, user_id, by))
    assignment = _assignees_insert(task, [user_id], by)
    assigned, names = await write_at_once(
        session,
        assignment,
        _task_columns(task, ["assignee_ids_json", "updated_at"]),
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
        BoundWrite(_UNASSIGN, {"unassign_task_id": task.id, "unassign_user_id": user_id}),
        _task_columns(task, ["assignee_ids_json", "updated_at"]),
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


# --- bulk changes ---------------------------------------------------------------------
# One request changes up to 500 tasks, all or nothing, in one transaction. The route
# holds every task named, in id order (access.Guard.held_tasks); bulk_update checks each
# as the single routes would (visible, the permissions of PATCH and assign, If-Match,
# members only as assignees), and any failure answers every failing id and writes
# nothing. The writes are set-based, none per task: one statement (write_at_once; one
# on PostgreSQL) for the UPDATE ... WHERE id IN of the values all tasks share and the
# assignments ended and made (INSERT ... SELECT, each a confirmed member); one UPDATE run
# with a row per task for the lists each has of its own (labels, assignees); one INSERT
# of many rows of activity, and one of outbox events with the commit. Those are compiled
# once and sent as batches: one statement of 500 rows of literals compiles slower than
# it runs (500 tasks took 1.8 s that way on PostgreSQL, 0.1 s this way).


class Permissions(Protocol):
    def can(self, permission: str) -> bool: ...


class HeldTask(Protocol):
    """A task a bulk change names, held and read as it stands, and the caller's access to
    its team (None: not a member, so not visible to them): access.TaskGrant."""

    @property
    def task(self) -> TaskRow: ...

    @property
    def member(self) -> Permissions | None: ...


_activity = table_of(Activity)

MAX_LABELS = 20
# When failures of several kinds come together, the answer's status is the first kind's,
# in the order the single routes check them: visible, current, allowed, valid.
_PRECEDENCE = (
    (404, "task-not-found", "Tasks not found"),
    (412, "precondition-failed", "Precondition failed"),
    (403, "permission-required", "Permission required"),
    (422, "bulk-change-invalid", "Changes not valid"),
)


@dataclass
class _Plan:
    """One task's change: the task as it will be and what that changes."""

    before: TaskRow
    after: TaskRow
    changed: list[str]
    diff: dict[str, list[Any]]
    added: list[uuid.UUID] = field(default_factory=list)
    removed: list[uuid.UUID] = field(default_factory=list)

    @property
    def writes(self) -> int:
        return bool(self.changed) + len(self.added) + len(self.removed)


def _plan(task: TaskRow, changes: TaskBulkChanges) -> _Plan:
    labels: list[str] = json.loads(task.labels_json)
    if changes.labels is not None:
        labels = changes.labels
    else:
        labels = [x for x in labels if x not in changes.remove_labels]
        labels += [x for x in changes.add_labels if x not in labels]
    current = assignees_of(task)
    added = [u for u in changes.add_assignees if u not in current]
    removed = [u for u in changes.remove_assignees if u in current]
    after = task._replace(
        labels_json=json.dumps(labels),
        assignee_ids_json=_ids_json([u for u in current if u not in removed] + added),
    )
    if changes.status is not None:
        after = after._replace(status=str(changes.status))
    if "due_at" in changes.model_fields_set:
        after = after._replace(due_at=changes.due_at)
    before_shown, after_shown = snapshot(task), snapshot(after)
    diff = difference(before_shown, after_shown)
    changed = sorted(diff)
    return _Plan(task, after, changed, diff, added, removed)


def _failure(index: int, task_id: uuid.UUID, code: str, msg: str, **more: Any) -> dict[str, Any]:
    return {
        "loc": ["body", "task_ids", index],
        "field": f"task_ids[{index}]",
        "task_id": str(task_id),
        "type": code,
        "code": code,
        "msg": msg,
        **more,
    }


async def _confirmed_members(
    session: AsyncSession, team_ids: set[uuid.UUID], user_ids: list[uuid.UUID]
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(team, user) of ``user_ids`` confirmed members of ``team_ids`` (as assign checks)."""
    if not user_ids or not team_ids:
        return set()
    rows = await session.execute(
        select(_members.c.team_id, _members.c.user_id).where(
            _members.c.team_id.in_(team_ids),
            _members.c.user_id.in_(user_ids),
            _members.c.from_event.is_(True),
            _members.c.resync_needed.is_(False),
        )
    )
    return {(row.team_id, row.user_id) for row in rows}


def _stale(task: TaskRow, tag: str | None) -> bool:
    tags = parse_tags(tag)
    return tags is not None and not strong_match(tags, etag_of(task_read(task)))


async def _check(
    session: AsyncSession, data: TaskBulkUpdate, grants: Sequence[HeldTask]
) -> list[_Plan]:
    """Every task's plan, or the problem listing every task that fails."""
    changes = data.changes
    by_id = {grant.task.id: grant for grant in grants}
    fields = {name: getattr(changes, name) for name in changes.fields()}
    assigning = [P.TASKS_ASSIGN] if changes.add_assignees or changes.remove_assignees else []
    visible = {g.task.team_id for g in grants if g.member is not None}
    members = await _confirmed_members(session, visible, changes.add_assignees)
    failures: dict[str, list[dict[str, Any]]] = {kind: [] for _, kind, _ in _PRECEDENCE}
    plans = []
    for index, task_id in enumerate(data.task_ids):
        grant = by_id.get(task_id)
        if grant is None or grant.member is None:
            failures["task-not-found"].append(
                _failure(
                    index, task_id, "task-not-found", "No task with this id is visible to you."
                )
            )
            continue
        task, member = grant.task, grant.member
        if _stale(task, data.if_match.get(task_id)):
            failures["precondition-failed"].append(
                _failure(
                    index,
                    task_id,
                    "precondition-failed",
                    "The task changed since the version If-Match names.",
                    etag=etag_of(task_read(task)),
                )
            )
        needed = [*rules.permissions_to_update(task.status, fields), *assigning]
        lacking = [permission for permission in needed if not member.can(permission)]
        if lacking:
            failures["permission-required"].append(
                _failure(
                    index,
                    task_id,
                    "permission-required",
                    f"Your role in this task's team does not grant {lacking[0]}.",
                    permission=lacking[0],
                )
            )
            continue
        plan = _plan(task, changes)
        strangers = [u for u in plan.added if (task.team_id, u) not in members]
        if strangers:
            failures["bulk-change-invalid"].append(
                _failure(
                    index,
                    task_id,
                    "assignee-not-member",
                    "Only members of the task's team can be assigned: "
                    + ", ".join(map(str, strangers))
                    + ".",
                )
            )
        if len(json.loads(plan.after.labels_json)) > MAX_LABELS:
            failures["bulk-change-invalid"].append(
                _failure(
                    index, task_id, "too-many-labels", f"A task has at most {MAX_LABELS} labels."
                )
            )
        plans.append(plan)
    for status, kind, title in _PRECEDENCE:
        if failures[kind]:
            errors = sorted(
                (error for listed in failures.values() for error in listed),
                key=lambda error: int(error["loc"][2]),
            )
            raise ProblemError(
                status,
                title,
                f"{len(errors)} of the {len(data.task_ids)} tasks cannot be changed as asked; "
                "see errors (one per task and reason). Nothing was changed.",
                type=kind,
                errors=errors,
            )
    return plans


def _task_update(plans: list[_Plan], changes: TaskBulkChanges, now: Any) -> Update:
    """One UPDATE ... WHERE id IN of every changed task: the values they all share."""
    values: dict[str, Any] = {"updated_at": now}
    if changes.status is not None:
        values["status"] = str(changes.status)
    if "due_at" in changes.model_fields_set:
        values["due_at"] = changes.due_at
    ids = [plan.before.id for plan in plans]
    # MariaDB: by the primary key, as the rows were held; a scan of a small table would
    # lock rows of other transactions out of id order (a deadlock).
    return (
        _tasks.update()
        .where(_tasks.c.id.in_(ids))
        .values(values)
        .with_hint("FORCE INDEX (PRIMARY)", dialect_name="mysql")
    )


# The lists each task has of its own (its labels, its assignees), by id: one statement
# run with a row of values per task (asyncpg pipelines them; compiled once).
_OWN_LISTS = (
    _tasks.update()
    .where(_tasks.c.id == bindparam("task_id"))
    .values(labels=bindparam("labels"), assignee_ids=bindparam("assignee_ids"))
)


async def _write_own_lists(session: AsyncSession, plans: list[_Plan]) -> None:
    changed = [
        plan
        for plan in plans
        if (plan.after.labels_json, plan.after.assignee_ids_json)
        != (plan.before.labels_json, plan.before.assignee_ids_json)
    ]
    if changed:
        await session.execute(
            _OWN_LISTS,
            [
                {
                    "task_id": plan.before.id,
                    "labels": plan.after.labels_json,
                    "assignee_ids": plan.after.assignee_ids_json,
                }
                for plan in changed
            ],
        )


def _assignments(
    chunk: list[_Plan], by: uuid.UUID, now: Any
) -> tuple[Delete | None, Insert | None]:
    """The assignments the chunk ends, and those it makes: each a confirmed member of the
    task's team, as the single assign's statement checks (the caller counts them)."""
    removing = [plan for plan in chunk if plan.removed]
    ended = None
    if removing:
        ended = delete(_assignees).where(
            _assignees.c.task_id.in_([plan.before.id for plan in removing]),
            _assignees.c.user_id.in_({u for plan in removing for u in plan.removed}),
        )
    adding = [plan for plan in chunk if plan.added]
    if not adding:
        return ended, None
    pairs = (
        select(
            _tasks.c.id,
            _members.c.user_id,
            literal(by, _assignees.c.assigned_by.type),
            literal(now, _assignees.c.assigned_at.type),
        )
        .join(
            _members,
            and_(
                _members.c.team_id == _tasks.c.team_id,
                _members.c.from_event.is_(True),
                _members.c.resync_needed.is_(False),
            ),
        )
        .where(
            _tasks.c.id.in_([plan.before.id for plan in adding]),
            _members.c.user_id.in_({u for plan in adding for u in plan.added}),
            ~exists().where(
                _assignees.c.task_id == _tasks.c.id, _assignees.c.user_id == _members.c.user_id
            ),
        )
    )
    made = insert(_assignees).from_select(
        ["task_id", "user_id", "assigned_by", "assigned_at"], pairs
    )
    return ended, made


def _activity_rows(plans: list[_Plan], by: uuid.UUID, now: Any) -> list[dict[str, Any]]:
    """Each task's entries, as the single routes write them: the fields' change, then one
    per person assigned or unassigned."""
    rows = []
    for plan in plans:
        entries: list[tuple[str, dict[str, Any]]] = []
        if plan.changed:
            entries.append((edit_action(plan.changed), plan.diff))
        entries += [("assigned", {"user_id": str(u)}) for u in plan.added]
        entries += [("unassigned", {"user_id": str(u)}) for u in plan.removed]
        rows += [
            {
                "id": uuid.uuid4(),
                "task_id": plan.before.id,
                "actor_id": by,
                "action": action,
                "details": json.dumps(details, default=str),
                "created_at": now,
            }
            for action, details in entries
        ]
    return rows


def _events(plan: _Plan, by: uuid.UUID) -> list[Any]:
    """The events the single routes would publish for this change, in their order."""
    task = plan.after
    events: list[Any] = []
    if plan.changed:
        events.append(updated_event(task, plan.changed, by))
    events += [assigned_event(task, u, by) for u in plan.added]
    events += [
        contract.TaskUnassigned(task_id=task.id, team_id=task.team_id, assignee_id=u)
        for u in plan.removed
    ]
    return events


async def bulk_update(
    uow: UnitOfWork, by: uuid.UUID, data: TaskBulkUpdate, grants: Sequence[HeldTask]
) -> TaskBulkResult:
    """Check every task (``grants``: held, access.Guard.held_tasks), then change them all
    in the caller's transaction and commit once; any failure changes nothing."""
    plans = await _check(uow.session, data, grants)
    changing = [plan for plan in plans if plan.writes]
    now = utcnow()
    session = uow.session
    if changing:
        ended, made = _assignments(changing, by, now)
        made_count, _ = await write_at_once(
            session, _task_update(changing, data.changes, now), ended, made, counted=made
        )
        if made is not None and made_count != sum(len(plan.added) for plan in changing):
            raise ProblemError(
                409,
                "Memberships changed",
                "A team's memberships changed while the tasks were being assigned; "
                "nothing was changed: try again.",
                type="membership-changed",
            )
        await _write_own_lists(session, changing)
        await session.execute(insert(_activity), _activity_rows(changing, by, now))
        for plan in changing:
            uow.publish(*_events(plan, by))
    # The events reach the outbox in one INSERT of many rows, with the commit.
    await uow.commit()
    changed = {plan.before.id for plan in changing}
    return TaskBulkResult(
        changed=[task_id for task_id in data.task_ids if task_id in changed],
        unchanged=[task_id for task_id in data.task_ids if task_id not in changed],
    )
