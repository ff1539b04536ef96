"""Handing emails to Celery when they are due: woken after each commit that wrote one, plus a sweep.

An email row commits with its notification; only then is a ``send_emails`` job
made for it, so a job never looks for a row that is not there yet, and a crash
between commit and enqueue is caught up by the sweep. One job carries the emails due
in a pass, up to ``job_size`` of them, sent over one SMTP connection. Passes begin at
least ``gather_seconds`` apart: an email written after a quiet spell goes at once, alone;
under a stream of them, those written within the gap go together in one job (a Celery
job's own cost, shared), none waiting longer than the gap.

The dispatcher is also what makes every later attempt: it queues

- pending emails that are due (new ones, and those back from a transient failure
  whose ``next_attempt_at`` has come);
- queued emails whose job has not started within ``requeue_after`` (the job was lost
  with Redis, or never reached it);
- emails held by a job for longer than the sending lease (its worker died mid-send).

A second job for one email is harmless: ``send_emails`` claims each row before it sends it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.sql import ColumnElement
from sqlmodel import col
from taskflow_chassis.db import Database, one_of
from taskflow_chassis.pump import CommitWokenLoop
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

from taskflow_notify.email.models import (
    EmailMessage,
    EmailStatus,
    due_for_retry,
    hold_expired,
    job_lost,
)
from taskflow_notify.email.service import EMAIL_WRITTEN

# Makes one job for these emails (at most ``job_size`` of them).
Enqueue = Callable[[list[uuid.UUID]], Awaitable[None]]

logger = logging.getLogger("taskflow.notify.dispatch")
_EMAIL_IDS = table_of(EmailMessage).c.id

# Passes of the dispatcher begin at least this far apart (see the module's docstring): at
# 20 emails a second, jobs of about four instead of one; well within the email's target of
# a p99 of 3 s from the write.
GATHER_SECONDS = 0.2


class EmailDispatcher(CommitWokenLoop):
    flag = EMAIL_WRITTEN
    name = "email-dispatcher"

    def __init__(
        self,
        database: Database,
        enqueue: Enqueue,
        publisher: Publisher,
        *,
        interval: float = 5.0,
        batch_size: int = 200,
        job_size: int = 50,
        requeue_after: float = 45.0,
        sending_lease: float = 120.0,
        gather_seconds: float = GATHER_SECONDS,
    ) -> None:
        super().__init__(database, interval=interval, batch_size=batch_size, min_gap=gather_seconds)
        self.enqueue = enqueue
        self.job_size = job_size
        self.publisher = publisher
        self.requeue_after = requeue_after
        self.sending_lease = sending_lease

    def _due(self, now: datetime) -> ColumnElement[bool]:
        return or_(
            due_for_retry(now),
            job_lost(now, timedelta(seconds=self.requeue_after)),
            hold_expired(now - timedelta(seconds=self.sending_lease)),
        )

    async def run_once(self) -> int:
        now = utcnow()
        # A read alone needs no transaction: no BEGIN and ROLLBACK round trips per pass.
        async with self.database.read_sessionmaker() as session:
            due = list(
                (
                    await session.execute(
                        select(col(EmailMessage.id))
                        .where(self._due(now))
                        .order_by(col(EmailMessage.created_at))
                        .limit(self.batch_size)
                    )
                ).scalars()
            )
        if not due:
            return 0
        # Enqueue first, then record it: a crash in between leaves rows as they were and
        # they are enqueued again; a job claims each row, so a second job sends nothing.
        enqueued: list[uuid.UUID] = []
        for start in range(0, len(due), self.job_size):
            job = due[start : start + self.job_size]
            try:
                await self.enqueue(job)
            except Exception as exc:
                # The broker is away: the rest stay as they are, and the next sweep (every
                # few seconds) tries again, so they leave soon after it is back.
                logger.warning(
                    "could not queue %d email(s), retrying on the next sweep: %s", len(job), exc
                )
                break
            enqueued.extend(job)
        if enqueued:
            # Recorded once for the batch: under load a pass finds many, one UPDATE does.
            # One statement, so no transaction around it: autocommit spares BEGIN.
            async with self.database.read_sessionmaker() as session:
                uow = UnitOfWork(session, self.publisher)
                await session.execute(
                    update(EmailMessage)
                    .where(one_of(_EMAIL_IDS, "ids", self.database.dialect), self._due(now))
                    .values(status=EmailStatus.QUEUED, queued_at=utcnow()),
                    {"ids": enqueued},
                    execution_options={"synchronize_session": False},
                )
                await uow.commit()
        # After a failed enqueue the batch is short, which ends the pass until the next sweep.
        return len(enqueued)
