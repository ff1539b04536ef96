"""A task's activity log: written in the transaction of each change, read a page at a time."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.bound import BoundWrite, bound_row
from taskflow_chassis.pagination import PageParams, paginate_by_time
from taskflow_chassis.types import table_of, utcnow

from taskflow_work.activity.models import Activity
from taskflow_work.activity.schemas import ActivityRead
from taskflow_work.replica.queries import names_of, person_column, ref

_activity = table_of(Activity)


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


def activity_insert(
    task_id: uuid.UUID, actor: uuid.UUID, action: str, details: dict[str, Any]
) -> BoundWrite:
    """The same entry as ``record``, as an INSERT to run within a statement of the caller's
    (a template, the values bound: taskflow_chassis.bound)."""
    values = {
        "id": uuid.uuid4(),
        "task_id": task_id,
        "actor_id": actor,
        "action": action,
        "details": json.dumps(details, default=str),
        "created_at": utcnow(),
    }
    return bound_row(_activity, "activity", values)


async def list_activity(
    session: AsyncSession, task_id: uuid.UUID, page: PageParams
) -> tuple[list[ActivityRead], str | None]:
    actor = person_column(_activity.c.actor_id, "actor_entry")
    query = select(Activity, actor).where(col(Activity.task_id) == task_id)
    rows, cursor = await paginate_by_time(
        session, query, page, time_column=_activity.c.created_at, id_column=_activity.c.id
    )
    return [
        ActivityRead(
            id=a.id,
            task_id=a.task_id,
            actor_id=a.actor_id,
            actor=ref(names_of(entry), a.actor_id),
            action=a.action,
            details=json.loads(a.details_json),
            created_at=a.created_at,
        )
        for (a, entry) in rows
    ], cursor
