"""Comments: members with comments.create write; authors edit; authors or moderators delete."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.pagination import PageParams, paginate_by_time
from taskflow_chassis.problems import ProblemError
from taskflow_chassis.types import utcnow
from taskflow_contracts import permissions as P
from taskflow_contracts import work as contract

from taskflow_work import events
from taskflow_work.access import MemberAccess
from taskflow_work.comments.models import Comment
from taskflow_work.comments.schemas import CommentCreate, CommentRead, CommentUpdate
from taskflow_work.tasks.models import Task
from taskflow_work.tasks.service import record

EXCERPT_LENGTH = 200


def not_author() -> ProblemError:
    return ProblemError(
        403, "Not your comment", "Only its author can edit a comment.", type="not-author"
    )


async def list_comments(
    session: AsyncSession, task: Task, page: PageParams
) -> tuple[list[CommentRead], str | None]:
    query = select(Comment).where(Comment.task_id == task.id)  # type: ignore[arg-type]
    rows, cursor = await paginate_by_time(
        session,
        query,
        page,
        time_column=Comment.created_at,
        id_column=Comment.id,  # type: ignore[arg-type]
    )
    return [CommentRead.model_validate(c) for (c,) in rows], cursor


async def create_comment(
    session: AsyncSession, access: MemberAccess, task: Task, data: CommentCreate
) -> Comment:
    access.require(P.COMMENTS_CREATE)
    comment = Comment(task_id=task.id, author_id=access.user_id, body=data.body)
    session.add(comment)
    record(session, task.id, access.user_id, "commented", {"comment_id": str(comment.id)})
    await events.publish(
        session,
        contract.CommentCreated(
            comment_id=comment.id,
            task_id=task.id,
            project_id=task.project_id,
            team_id=task.team_id,
            author_id=access.user_id,
            excerpt=data.body[:EXCERPT_LENGTH],
        ),
    )
    await session.commit()
    return comment


async def edit_comment(
    session: AsyncSession, access: MemberAccess, comment: Comment, data: CommentUpdate
) -> Comment:
    if comment.author_id != access.user_id:
        raise not_author()
    if comment.body != data.body:
        comment.body = data.body
        comment.edited_at = utcnow()
        session.add(comment)
        record(
            session,
            comment.task_id,
            access.user_id,
            "comment_edited",
            {"comment_id": str(comment.id)},
        )
        await session.commit()
    return comment


async def delete_comment(session: AsyncSession, access: MemberAccess, comment: Comment) -> None:
    if comment.author_id != access.user_id:
        access.require(P.COMMENTS_MODERATE)
    record(
        session,
        comment.task_id,
        access.user_id,
        "comment_deleted",
        {"comment_id": str(comment.id), "author_id": str(comment.author_id)},
    )
    await session.delete(comment)
    await session.commit()
