"""Handing committed emails to Celery: woken after each commit that wrote one, plus a sweep.

An email row commits with its notification; only then is a ``send_email`` job
made for it, so a job never looks for a row that is not there yet, and a crash
between commit and enqueue is caught up by the sweep.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy import and_, or_, select, update
from taskflow_chassis.db import Database
from taskflow_chassis.pump import CommitWokenLoop
from taskflow_chassis.types import utcnow

from taskflow_notify.notifications.models import EmailMessage, EmailStatus

Enqueue = Callable[[uuid.UUID], Awaitable[None]]


class EmailDispatcher(CommitWokenLoop):
    flag = "taskflow_email_written"
    name = "email-dispatcher"

    def __init__(
        self,
        database: Database,
        enqueue: Enqueue,
        *,
        interval: float = 5.0,
        batch_size: int = 50,
        requeue_after: float = 900.0,
    ) -> None:
        super().__init__(database, interval=interval, batch_size=batch_size)
        self.enqueue = enqueue
        self.requeue_after = requeue_after

    def _due(self) -> object:
        # Pending rows, and queued ones whose job never ran (the broker lost it): a second
        # job is harmless, send_email claims the row before it sends.
        stale = utcnow() - timedelta(seconds=self.requeue_after)
        return or_(
            EmailMessage.status == EmailStatus.PENDING,  # type: ignore[arg-type]
            and_(EmailMessage.status == EmailStatus.QUEUED, EmailMessage.queued_at < stale),  # type: ignore[arg-type,operator]
        )

    async def run_once(self) -> int:
        # A read alone needs no transaction: no BEGIN and ROLLBACK round trips per pass.
        async with self.database.read_sessionmaker() as session:
            due = list(
                (
                    await session.execute(
                        select(EmailMessage.id)
                        .where(self._due())  # type: ignore[arg-type]
                        .order_by(EmailMessage.created_at)  # type: ignore[arg-type]
                        .limit(self.batch_size)
                    )
                ).scalars()
            )
        if not due:
            return 0
        # Enqueue first, then record it: a crash in between leaves rows pending and they
        # are enqueued again; send_email claims its row, so a second job sends nothing.
        # Recorded once for the batch: under load a pass finds many, one UPDATE does.
        for email_id in due:
            await self.enqueue(email_id)
        async with self.database.session() as session:
            await session.execute(
                update(EmailMessage)
                .where(EmailMessage.id.in_(due), self._due())  # type: ignore[attr-defined]
                .values(status=EmailStatus.QUEUED, queued_at=utcnow()),
                execution_options={"synchronize_session": False},
            )
            await session.commit()
        return len(due)
