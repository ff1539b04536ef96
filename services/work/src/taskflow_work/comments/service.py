"""Comments on a task: written by members with comments.create, each in the task's activity.

The caller is authorized by the route (taskflow_work.access and comments.rules).
"""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.bound import bound_row
from taskflow_chassis.pagination import PageParams, paginate_by_time
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts import work as contract

from taskflow_work.activity.service import activity_insert, record
from taskflow_work.comments.models import Comment
from taskflow_work.comments.schemas import CommentCreate, CommentRead, CommentUpdate
from taskflow_work.replica.queries import Names, load_names, names_of, person_column, ref
from taskflow_work.tasks.queries import write_at_once

EXCERPT_LENGTH = 200

_comments = table_of(Comment)


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
    _, names = await write_at_once(
        uow.session,
        bound_row(
            _comments,
            "comment",
            {
                "id": comment.id,
                "task_id": comment.task_id,
                "author_id": comment.author_id,
                "body": comment.body,
                "created_at": comment.created_at,
            },
        ),
        activity_insert(task.id, author, "commented", {"comment_id": str(comment.id)}),
        uow.take_outbox_insert(),
        people=[author],
    )
    await uow.commit()
    return comment_read(comment, names)


async def edit_comment(
    uow: UnitOfWork, editor: uuid.UUID, comment: Comment, data: CommentUpdate
) -> Comment:
    if comment.body != data.body:
        comment.body = data.body
        comment.edited_at = utcnow()
        uow.session.add(comment)
        details = {"comment_id": str(comment.id)}
        record(uow.session, comment.task_id, editor, "comment_edited", details)
        await uow.commit()
    return comment


async def delete_comment(uow: UnitOfWork, by: uuid.UUID, comment: Comment) -> None:
    details = {"comment_id": str(comment.id), "author_id": str(comment.author_id)}
    record(uow.session, comment.task_id, by, "comment_deleted", details)
    await uow.session.delete(comment)
    await uow.commit()
