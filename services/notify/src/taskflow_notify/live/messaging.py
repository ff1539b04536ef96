"""A task changed: every member of its team gets ``task.changed`` on their streams, in the
transaction of the event's inbox row (after the replica handlers, so it sees their state);
the events of a batch are numbered and written together when it commits."""

from __future__ import annotations

import uuid
from collections.abc import Collection

from taskflow_contracts import work

from taskflow_notify.deps import Context
from taskflow_notify.live import rules, service
from taskflow_notify.replica.models import TaskReplica
from taskflow_notify.replica.service import active_members, kept_reads, task_audience

_WithProject = (
    work.TaskCreated | work.TaskUpdated | work.TaskAssigned | work.TaskDeleted | work.CommentCreated
)


async def _task_changed(
    context: Context,
    change: str,
    fact: _WithProject | work.TaskUnassigned,
    actor_id: uuid.UUID | None,
) -> None:
    session = context.session
    if isinstance(fact, work.TaskUnassigned):
        # It names no project: the replica's (null if it never heard of the task).
        task = await session.get(TaskReplica, fact.task_id)
        project_id = task.project_id if task else None
    else:
        project_id = fact.project_id
    # Nobody while its team or project is deleted: heard of again once it is restored.
    kept = kept_reads(context.uow)
    if project_id is None:
        recipients: Collection[uuid.UUID] = await kept.kept(
            ("active members", fact.team_id), lambda: active_members(session, fact.team_id)
        )
    else:
        recipients = (await task_audience(kept, session, fact.team_id, project_id)).members
    if not recipients:
        return
    payload = {
        "task_id": str(fact.task_id),
        "project_id": str(project_id) if project_id else None,
        "team_id": str(fact.team_id),
        "change": change,
        "actor": None,  # the actor's name, if any, is filled in when the events are written
        "at": context.event.time.isoformat(),
    }
    service.live_writes(context.uow).add(recipients, rules.TASK_CHANGED, payload, actor_id)


async def on_task_created(payload: work.TaskCreated, context: Context) -> None:
    await _task_changed(context, "created", payload, payload.created_by)


async def on_task_updated(payload: work.TaskUpdated, context: Context) -> None:
    await _task_changed(context, "updated", payload, payload.updated_by)


async def on_task_assigned(payload: work.TaskAssigned, context: Context) -> None:
    await _task_changed(context, "assigned", payload, payload.assigned_by)


async def on_task_unassigned(payload: work.TaskUnassigned, context: Context) -> None:
    """The event names neither the project nor who unassigned: no actor."""
    await _task_changed(context, "unassigned", payload, None)


async def on_task_deleted(payload: work.TaskDeleted, context: Context) -> None:
    await _task_changed(context, "deleted", payload, None)


async def on_comment_created(payload: work.CommentCreated, context: Context) -> None:
    await _task_changed(context, "commented", payload, payload.author_id)
