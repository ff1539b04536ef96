"""Comment routes: a task's comments, and one comment by id."""

from __future__ import annotations

from fastapi import APIRouter, status
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.pagination import Page, PageParamsDep
from taskflow_chassis.problems import problem_responses

from taskflow_work.comments import service
from taskflow_work.comments.schemas import CommentCreate, CommentRead, CommentUpdate
from taskflow_work.loaders import CommentDep, TaskDep

task_comments = APIRouter(prefix="/api/v1/tasks/{task_id}/comments", tags=["comments"])
comments = APIRouter(prefix="/api/v1/comments", tags=["comments"])
ERRORS = problem_responses(401, 403, 404, 422)


@task_comments.get("", responses=ERRORS, description="Oldest first.")
async def list_comments(
    context: TaskDep, page: PageParamsDep, session: SessionDep
) -> Page[CommentRead]:
    items, cursor = await service.list_comments(session, context.task, page)
    return Page(items=items, next_cursor=cursor)


@task_comments.post("", status_code=status.HTTP_201_CREATED, responses=ERRORS)
async def create_comment(data: CommentCreate, context: TaskDep, session: SessionDep) -> CommentRead:
    comment = await service.create_comment(session, context.access, context.task, data)
    return CommentRead.model_validate(comment)


@comments.patch(
    "/{comment_id}", responses=ERRORS, description="Only the author; keeps `edited_at`."
)
async def edit_comment(
    data: CommentUpdate, context: CommentDep, session: SessionDep
) -> CommentRead:
    comment = await service.edit_comment(session, context.access, context.comment, data)
    return CommentRead.model_validate(comment)


@comments.delete(
    "/{comment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
    description="The author, or a member with `comments.moderate`.",
)
async def delete_comment(context: CommentDep, session: SessionDep) -> None:
    await service.delete_comment(session, context.access, context.comment)
