"""Route dependencies that load a resource and the caller's access to its team, in one step.

Whatever the id (path, body or query), a resource in a team the caller is not a
member of is answered exactly like one that does not exist: 404.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import ColumnElement, Row, Select, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.deps import SessionDep

from taskflow_work.access import AuthorizerDep, Caller, CallerDep, MemberAccess, not_found
from taskflow_work.comments.models import Comment
from taskflow_work.projects.models import Project
from taskflow_work.replica.models import MemberReplica
from taskflow_work.tasks.models import Task
from taskflow_work.tasks.schemas import TaskRead
from taskflow_work.tasks.service import TASK_COLUMNS, task_read


@dataclass
class ProjectContext:
    project: Project
    access: MemberAccess


@dataclass
class TaskContext:
    task: Task
    access: MemberAccess


@dataclass
class CommentContext:
    comment: Comment
    task: Task
    access: MemberAccess


# Plain tables: a read of rows stays a Core statement, cheaper to run than an ORM one.
_tasks = Task.__table__  # type: ignore[attr-defined]
_members = MemberReplica.__table__  # type: ignore[attr-defined]


def _caller_in_team(team_id: Any) -> ColumnElement[bool]:
    """Joins the caller's replica row (``caller_id``) in the resource's team."""
    return and_(_members.c.team_id == team_id, _members.c.user_id == bindparam("caller_id"))


# A project and the caller's replica row in its team, in one round trip.
PROJECT_WITH_ACCESS = (
    select(Project, MemberReplica)
    .outerjoin(MemberReplica, _caller_in_team(Project.team_id))
    .where(Project.id == bindparam("project_id"))  # type: ignore[arg-type]
)


async def load_project(
    project_id: uuid.UUID, caller: CallerDep, authorizer: AuthorizerDep, session: SessionDep
) -> ProjectContext:
    params = {"project_id": project_id, "caller_id": caller.user_id}
    row = (await session.execute(PROJECT_WITH_ACCESS, params)).first()
    if row is None:
        raise not_found("Project")
    project, membership = row
    access = await authorizer.member_from(membership, project.team_id, caller, "Project")
    return ProjectContext(project, access)


# The task and the caller's replica row in its team: one round trip answers both "may
# they see it" and what to show (the task carries its assignee list).
TASK_WITH_ACCESS = (
    select(Task, MemberReplica)
    .outerjoin(MemberReplica, _caller_in_team(Task.team_id))
    .where(Task.id == bindparam("task_id"))  # type: ignore[arg-type]
)


async def _task_row(
    session: AsyncSession, query: Select[Any], task_id: uuid.UUID, caller: Caller
) -> Row[Any]:
    params = {"task_id": task_id, "caller_id": caller.user_id}
    row = (await session.execute(query, params)).first()
    if row is None:
        raise not_found("Task")
    return row


async def load_task(
    task_id: uuid.UUID, caller: CallerDep, authorizer: AuthorizerDep, session: SessionDep
) -> TaskContext:
    task, membership = await _task_row(session, TASK_WITH_ACCESS, task_id, caller)
    access = await authorizer.member_from(membership, task.team_id, caller, "Task")
    return TaskContext(task, access)


# The same, as plain rows for a read: no ORM objects to build for an answer that
# only needs to be shown.
TASK_ROWS_WITH_ACCESS = (
    select(
        *TASK_COLUMNS,
        _members.c.user_id.label("member_id"),
        _members.c.role_name,
        _members.c.permissions,
        _members.c.from_event,
        _members.c.resync_needed.label("member_resync_needed"),
        _members.c.updated_at.label("member_updated_at"),
    )
    .select_from(_tasks.outerjoin(_members, _caller_in_team(_tasks.c.team_id)))
    .where(_tasks.c.id == bindparam("task_id"))
)


async def read_task(
    task_id: uuid.UUID, caller: CallerDep, authorizer: AuthorizerDep, session: SessionDep
) -> TaskRead:
    """A task as the caller may see it (404 when they may not), in one round trip."""
    first = await _task_row(session, TASK_ROWS_WITH_ACCESS, task_id, caller)
    membership = None
    if first.member_id is not None:
        membership = MemberReplica(
            team_id=first.team_id,
            user_id=first.member_id,
            role_name=first.role_name,
            permission_list=first.permissions,
            from_event=first.from_event,
            resync_needed=first.member_resync_needed,
            updated_at=first.member_updated_at,
        )
    await authorizer.member_from(membership, first.team_id, caller, "Task")
    return task_read(first)


async def load_comment(
    comment_id: uuid.UUID, caller: CallerDep, authorizer: AuthorizerDep, session: SessionDep
) -> CommentContext:
    comment = await session.get(Comment, comment_id)
    task = await session.get(Task, comment.task_id) if comment else None
    if comment is None or task is None:
        raise not_found("Comment")
    access = await authorizer.member(session, task.team_id, caller, "Comment")
    return CommentContext(comment, task, access)


ProjectDep = Annotated[ProjectContext, Depends(load_project)]
TaskDep = Annotated[TaskContext, Depends(load_task)]
TaskReadDep = Annotated[TaskRead, Depends(read_task)]
CommentDep = Annotated[CommentContext, Depends(load_comment)]
