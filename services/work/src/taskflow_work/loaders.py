"""Route dependencies that load a resource and the caller's access to its team, in one step.

Whatever the id (path, body or query), a resource in a team the caller is not a
member of is answered exactly like one that does not exist: 404.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from taskflow_chassis.deps import SessionDep

from taskflow_work.access import AuthorizerDep, CallerDep, MemberAccess, not_found
from taskflow_work.comments.models import Comment
from taskflow_work.projects.models import Project
from taskflow_work.tasks.models import Task


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


async def load_project(
    project_id: uuid.UUID, caller: CallerDep, authorizer: AuthorizerDep, session: SessionDep
) -> ProjectContext:
    project = await session.get(Project, project_id)
    if project is None:
        raise not_found("Project")
    access = await authorizer.member(session, project.team_id, caller, "Project")
    return ProjectContext(project, access)


async def load_task(
    task_id: uuid.UUID, caller: CallerDep, authorizer: AuthorizerDep, session: SessionDep
) -> TaskContext:
    task = await session.get(Task, task_id)
    if task is None:
        raise not_found("Task")
    access = await authorizer.member(session, task.team_id, caller, "Task")
    return TaskContext(task, access)


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
CommentDep = Annotated[CommentContext, Depends(load_comment)]
