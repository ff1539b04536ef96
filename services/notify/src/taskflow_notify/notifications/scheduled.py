"""The reminder scan: tasks due within each assignee's lead time get one reminder per due time.

Celery beat runs it in the distributed runtime; the embedded runtime runs it on a
timer. A reminder is keyed by (task, assignee, due time): moving the due time
re-arms it; done and deleted tasks get none, nor do the tasks of a deleted team or project
until it is restored.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from taskflow_chassis.db import Database
from taskflow_chassis.periodic import PeriodicJob
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

from taskflow_notify.deps import NotifyDeps
from taskflow_notify.notifications import service
from taskflow_notify.notifications.models import Kind, Preferences, ReminderSent
from taskflow_notify.replica.models import MemberReplica, TaskAssigneeReplica, TaskReplica
from taskflow_notify.replica.service import task_hidden, tasks_shown

logger = logging.getLogger("taskflow.notify.reminders")

MAX_LEAD = timedelta(hours=672)


def _when(moment: datetime) -> str:
    return moment.strftime("%a %d %b %Y, %H:%M UTC")


class ReminderScan:
    def __init__(self, database: Database, deps: NotifyDeps, publisher: Publisher) -> None:
        self.database = database
        self.deps = deps
        self.publisher = publisher
        self._timer: PeriodicJob | None = None

    async def run_once(self, now: datetime) -> int:
        """Send every reminder due at ``now``; answer how many."""
        default_lead = self.deps.settings.default_reminder_lead_hours
        sent = 0
        for task, user_id, prefs in await self._candidates(now):
            lead = prefs.reminder_lead_hours if prefs else default_lead
            if task.due_at is None or task.due_at - now > timedelta(hours=lead):
                continue
            wants_email = prefs.email_reminders if prefs else True
            if await self._remind(task, task.due_at, user_id, wants_email, now):
                sent += 1
        return sent

    async def _candidates(
        self, now: datetime
    ) -> list[tuple[TaskReplica, uuid.UUID, Preferences | None]]:
        """Assigned tasks, not done, due within the longest lead anyone can choose, of a
        team and a project not deleted, to people the team has not removed (an assignment
        arriving after the removal leaves its row: the two services' events have no
        common order)."""
        async with self.database.session() as session:
            found = await session.execute(
                select(TaskReplica, col(TaskAssigneeReplica.user_id), Preferences)
                .join(
                    TaskAssigneeReplica,
                    col(TaskAssigneeReplica.task_id) == col(TaskReplica.task_id),
                )
                .outerjoin(
                    Preferences, col(Preferences.user_id) == col(TaskAssigneeReplica.user_id)
                )
                .where(
                    col(TaskReplica.due_at) > now,
                    col(TaskReplica.due_at) <= now + MAX_LEAD,
                    col(TaskReplica.status) != "done",
                    tasks_shown(),
                    ~exists().where(
                        col(MemberReplica.team_id) == col(TaskReplica.team_id),
                        col(MemberReplica.user_id) == col(TaskAssigneeReplica.user_id),
                        col(MemberReplica.active).is_(False),
                    ),
                )
            )
            return [(task, user_id, prefs) for task, user_id, prefs in found.all()]

    async def _remind(
        self,
        task: TaskReplica,
        due_at: datetime,
        user_id: uuid.UUID,
        wants_email: bool,
        now: datetime,
    ) -> bool:
        """One reminder, in its own transaction; False if it was sent before, or if the
        task's team or project was deleted since the scan read it."""
        async with self.database.session() as session:
            uow = UnitOfWork(session, self.publisher)
            if await task_hidden(session, task.team_id, task.project_id):
                return False
            already = await session.execute(
                select(col(ReminderSent.id)).where(
                    col(ReminderSent.task_id) == task.task_id,
                    col(ReminderSent.user_id) == user_id,
                    col(ReminderSent.due_at) == due_at,
                )
            )
            if already.first():
                return False
            session.add(
                ReminderSent(task_id=task.task_id, user_id=user_id, due_at=due_at, sent_at=now)
            )
            user = await service.person(session, user_id)
            link = f"{self.deps.settings.public_url.rstrip('/')}/tasks/{task.task_id}"
            outgoing = service.Outgoing(
                kind=Kind.TASK_DUE,
                cause=f"{task.task_id}:{due_at.isoformat()}",
                title=f'"{task.title}" is due {_when(due_at)}',
                body=f'The task "{task.title}" assigned to you is due {_when(due_at)}.',
                link=link,
                team_id=task.team_id,
                project_id=task.project_id,
                task_id=task.task_id,
                user_id=user_id,
                email=user.email if user and wants_email else None,
                context={
                    "name": service.display(user, "there"),
                    "title": task.title,
                    "due_at": _when(due_at),
                    "link": link,
                },
            )
            await service.deliver(session, self.deps.templates, outgoing)
            try:
                await uow.commit()
            except IntegrityError:
                await uow.rollback()  # another scan sent this one a moment ago
                return False
            return True

    def start(self, clock: Callable[[], datetime]) -> None:
        """Scan on this process's own timer (where no Celery beat runs: embedded)."""
        if self._timer is None:
            self._timer = PeriodicJob(
                "reminder-scan",
                lambda: self.run_once(clock()),
                interval=self.deps.settings.reminder_scan_seconds,
                logger=logger,
                what="reminder scan",
            )
        self._timer.start()

    async def stop(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            await timer.stop()
