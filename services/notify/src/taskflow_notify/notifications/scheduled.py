"""The reminder scan: tasks due within each assignee's lead time get one reminder per due time.

Celery beat runs it in the distributed runtime; the embedded runtime runs it on a
timer. A reminder is keyed by (task, assignee, due time): moving the due time
re-arms it; done and deleted tasks get none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool
from taskflow_chassis.db import Database
from taskflow_chassis.types import utcnow

from taskflow_notify.config import NotifySettings
from taskflow_notify.notifications import service
from taskflow_notify.notifications.models import Kind, Preferences, ReminderSent
from taskflow_notify.replica.models import TaskAssigneeReplica, TaskReplica

logger = logging.getLogger("taskflow.notify.reminders")

MAX_LEAD = timedelta(hours=672)


def _when(moment: datetime) -> str:
    return moment.strftime("%a %d %b %Y, %H:%M UTC")


async def scan(database: Database, settings: NotifySettings, now: datetime) -> int:
    """Send every reminder due at ``now``; answer how many."""
    sent = 0
    async with database.session() as session:
        candidates = (
            await session.execute(
                select(TaskReplica, TaskAssigneeReplica.user_id, Preferences)
                .join(TaskAssigneeReplica, TaskAssigneeReplica.task_id == TaskReplica.task_id)  # type: ignore[arg-type]
                .outerjoin(Preferences, Preferences.user_id == TaskAssigneeReplica.user_id)  # type: ignore[arg-type]
                .where(
                    TaskReplica.due_at > now,  # type: ignore[operator,arg-type]
                    TaskReplica.due_at <= now + MAX_LEAD,  # type: ignore[operator,arg-type]
                    TaskReplica.status != "done",  # type: ignore[arg-type]
                )
            )
        ).all()
    for task, user_id, prefs in candidates:
        lead = prefs.reminder_lead_hours if prefs else settings.default_reminder_lead_hours
        assert task.due_at is not None
        if task.due_at - now > timedelta(hours=lead):
            continue
        async with database.session() as session:
            already = await session.execute(
                select(ReminderSent.id).where(
                    ReminderSent.task_id == task.task_id,  # type: ignore[arg-type]
                    ReminderSent.user_id == user_id,  # type: ignore[arg-type]
                    ReminderSent.due_at == task.due_at,  # type: ignore[arg-type]
                )
            )
            if already.first():
                continue
            session.add(
                ReminderSent(task_id=task.task_id, user_id=user_id, due_at=task.due_at, sent_at=now)
            )
            user = await service.person(session, user_id)
            wants_email = prefs.email_reminders if prefs else True
            link = f"{settings.public_url.rstrip('/')}/tasks/{task.task_id}"
            await service.deliver(
                session,
                service.Outgoing(
                    kind=Kind.TASK_DUE,
                    cause=f"{task.task_id}:{task.due_at.isoformat()}",
                    title=f'"{task.title}" is due {_when(task.due_at)}',
                    body=f'The task "{task.title}" assigned to you is due {_when(task.due_at)}.',
                    link=link,
                    user_id=user_id,
                    email=user.email if user and wants_email else None,
                    context={
                        "name": service.display(user, "there"),
                        "title": task.title,
                        "due_at": _when(task.due_at),
                        "link": link,
                    },
                ),
            )
            try:
                await session.commit()
                sent += 1
            except IntegrityError:
                await session.rollback()  # another scan sent this one a moment ago
    return sent


async def scan_once(settings: NotifySettings) -> int:
    """For Celery beat's job: a scan with its own short-lived engine."""
    database = Database(settings.resolved_database_url(), poolclass=NullPool)
    try:
        return await scan(database, settings, utcnow())
    finally:
        await database.dispose()


async def scan_forever(app: FastAPI) -> None:
    settings: NotifySettings = app.state.settings
    while True:
        try:
            clock = getattr(app.state, "clock", utcnow)
            await scan(app.state.database, settings, clock())
        except Exception:
            logger.exception("reminder scan failed; trying again on the next tick")
        await asyncio.sleep(settings.reminder_scan_seconds)


async def start(app: FastAPI) -> None:
    if app.state.settings.reminder_timer:
        app.state.reminder_task = asyncio.create_task(scan_forever(app), name="reminder-scan")


async def stop(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "reminder_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
