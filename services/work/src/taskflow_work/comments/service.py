"""Comments on a task: written by members with comments.create, each in the task's activity.

The caller is authorized by the route (taskflow_work.access and comments.rules).
"""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col
from taskflow_chassis.bound import BoundWrite, bound_update
from taskflow_chassis.pagination import PageParams, paginate_by_time
from taskflow_chassis.problems import not_found
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts import work as contract

from taskflow_work.activity.service import activity_insert
from taskflow_work.comments.models import Comment
from taskflow_work.comments.schemas import CommentCreate, CommentRead, CommentUpdate
from taskflow_work.replica.queries import Names, load_names, names_of, person_column, ref
from taskflow_work.tasks.models import Task
from taskflow_work.tasks.queries import CountFellShort, write_at_once

EXCERPT_LENGTH = 200

_comments = table_of(Comment)
_tasks = table_of(Task)

# The access read holds neither the task nor the comment, so each write below is counted
# and holds what it refers to for its transaction: a task deleted meanwhile (its comments
# with it) then leaves it nothing to write, answered 404, never a foreign key's 500.
# A new comment is written from its task's row, held by a share of its key: the task's
# delete waits for the commit, an edit of it does not.
_COMMENT_ON_TASK = insert(_comments).from_select(
    ["id", "task_id", "author_id", "body", "created_at"],
    select(
        bindparam("comment_id", type_=_comments.c.id.type),
        _tasks.c.id,
        bindparam("comment_author_id", type_=_comments.c.author_id.type),
        bindparam("comment_body", type_=_comments.c.body.type),
        bindparam("comment_created_at", type_=_comments.c.created_at.type),
    )
    .where(_tasks.c.id == bindparam("comment_task_id", type_=_tasks.c.id.type))
    .with_for_update(read=True, key_share=True),
)
_DELETE_COMMENT = delete(_comments).where(
    _comments.c.id == bindparam("delete_comment_id", type_=_comments.c.id.type)
)


class CommentedTask(Protocol):
    @property
    def id(self) -> uuid.UUID: ...

    @property
    def project_id(self) -> uuid.UUID: ...

    @property
    def team_id(self) -> uuid.UUID: ...


async def list_comments(
    session: AsyncSession, task_id: uuid.UUID, page: PageParams
) -> tuple[list[CommentRead], str | None]:
    author = person_column(_comments.c.author_id, "author_entry")
    query = select(Comment, author).where(col(Comment.task_id) == task_id)
    rows, cursor = await paginate_by_time(
        session, query, page, time_column=_comments.c.created_at, id_column=_comments.c.id
    )
    return [comment_read(c, names_of(entry)) for (c, entry) in rows], cursor


def comment_read(comment: Comment, names: Names) -> CommentRead:
    return CommentRead(
        id=comment.id,
        task_id=comment.task_id,
        author_id=comment.author_id,
        author=ref(names, comment.author_id),
        body=comment.body,
        created_at=comment.created_at,
        edited_at=comment.edited_at,
    )


async def comment_shown(session: AsyncSession, comment: Comment) -> CommentRead:
    """One comment with its author's names (one more statement)."""
    return comment_read(comment, await load_names(session, [comment.author_id]))


async def create_comment(
    uow: UnitOfWork, author: uuid.UUID, task: CommentedTask, data: CommentCreate
) -> CommentRead:
    """The comment, its activity entry and its event: one statement on PostgreSQL
    (tasks.queries.write_at_once, with the author's names), then the commit."""
    comment = Comment(task_id=task.id, author_id=author, body=data.body)
    uow.publish(
        contract.CommentCreated(
            comment_id=comment.id,
            task_id=task.id,
            project_id=task.project_id,
            team_id=task.team_id,
            author_id=author,
            excerpt=data.body[:EXCERPT_LENGTH],
        )
    )
    written = BoundWrite(
        _COMMENT_ON_TASK,
        {
            "comment_id": comment.id,
            "comment_task_id": comment.task_id,
            "comment_author_id": comment.author_id,
            "comment_body": comment.body,
            "comment_created_at": comment.created_at,
        },
    )
    try:
        _, names = await write_at_once(
            uow.session,
            written,
            activity_insert(task.id, author, "commented", {"comment_id": str(comment.id)}),
            uow.take_outbox_insert(),
            counted=written,
            required=1,
            people=[author],
        )
    except CountFellShort:
        await uow.rollback()  # nothing of it stays
        raise not_found("Task") from None
    await uow.commit()
    return comment_read(comment, names)


async def edit_comment(
    uow: UnitOfWork, editor: uuid.UUID, comment: Comment, data: CommentUpdate
) -> Comment:
    if comment.body == data.body:
        return comment
    edited_at = utcnow()
    edited = bound_update(
        _comments, "comment", ("id", comment.id), {"body": data.body, "edited_at": edited_at}
    )
    details = {"comment_id": str(comment.id)}
    await _write_to_comment(
        uow, edited, activity_insert(comment.task_id, editor, "comment_edited", details)
    )
    # Set as the row now is, not as the ORM's pending change: the row is written above.
    set_committed_value(comment, "body", data.body)
    set_committed_value(comment, "edited_at", edited_at)
    return comment


async def delete_comment(uow: UnitOfWork, by: uuid.UUID, comment: Comment) -> None:
    details = {"comment_id": str(comment.id), "author_id": str(comment.author_id)}
    await _write_to_comment(
        uow,
        BoundWrite(_DELETE_COMMENT, {"delete_comment_id": comment.id}),
        activity_insert(comment.task_id, by, "comment_deleted", details),
    )


async def _write_to_comment(uow: UnitOfWork, written: BoundWrite, entry: BoundWrite) -> None:
    """The comment's row written (``written``, which holds it) with its activity entry, then
    the commit; 404 where the comment is gone, as with a task deleted meanwhile."""
    try:
        await write_at_once(uow.session, written, entry, counted=written, required=1)
    except CountFellShort:
        await uow.rollback()  # nothing of it stays
        raise not_found("Comment") from None
    await uow.commit()
