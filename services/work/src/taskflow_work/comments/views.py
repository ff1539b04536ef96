"""Comment routes: a task's comments, and one comment by id."""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Depends, status
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.etags import ETagDep, IfMatchDep, hold
from taskflow_chassis.pagination import Page, PageParamsDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.unit_of_work import UnitOfWorkDep

from taskflow_work.access import CanComment, CommentMember, TaskMember
from taskflow_work.comments import rules, service
from taskflow_work.comments.schemas import CommentCreate, CommentRead, CommentUpdate
from taskflow_work.deps import one_statement_write

task_comments = APIRouter(prefix="/api/v1/tasks/{task_id}/comments", tags=["comments"])
comments = APIRouter(prefix="/api/v1/comments", tags=["comments"])
ERRORS = problem_responses(401, 403, 404, 422)


@task_comments.get("", responses=ERRORS, description="Oldest first.")
async def list_comments(
    access: TaskMember, page: PageParamsDep, session: SessionDep
) -> Page[CommentRead]:
    items, cursor = await service.list_comments(session, access.task.id, page)
    return Page(items=items, next_cursor=cursor)


@task_comments.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(one_statement_write)],
    responses=ERRORS,
)
async def create_comment(
    data: CommentCreate, access: CanComment, uow: UnitOfWorkDep, tag: ETagDep
) -> CommentRead:
    return tag(await service.create_comment(uow, access.member.user_id, access.task, data))


@comments.get(
    "/{comment_id}",
    responses=problem_responses(401, 404, 422),
    description="One comment, to any member of its task's team (404 to anyone else).",
)
async def get_comment(access: CommentMember, session: SessionDep, tag: ETagDep) -> CommentRead:
    return tag(await service.comment_shown(session, access.comment))


@comments.patch(
    "/{comment_id}", responses=ERRORS, description="Only the author; keeps `edited_at`."
)
async def edit_comment(
    data: CommentUpdate,
    access: CommentMember,
    uow: UnitOfWorkDep,
    precondition: IfMatchDep,
    tag: ETagDep,
) -> CommentRead:
    if not rules.may_edit(access.comment.author_id, access.member.user_id):
        raise rules.not_author()
    shown = partial(service.comment_shown, uow.session)
    await hold(uow.session, access.comment, precondition, shown)
    comment = await service.edit_comment(uow, access.member.user_id, access.comment, data)
    return tag(await shown(comment))


@comments.delete(
    "/{comment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
    description="The author, or a member with `comments.moderate`.",
)
async def delete_comment(
    access: CommentMember, uow: UnitOfWorkDep, precondition: IfMatchDep
) -> None:
    access.member.require_all(
        rules.permissions_to_delete(access.comment.author_id, access.member.user_id)
    )
    await hold(
        uow.session, access.comment, precondition, partial(service.comment_shown, uow.session)
    )
    await service.delete_comment(uow, access.member.user_id, access.comment)
