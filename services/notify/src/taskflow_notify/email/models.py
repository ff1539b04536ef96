"""The email log: one row per email, which says where it stands (no job waits in Redis)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import BindParameter, Column, ColumnElement, Index, Text, and_, or_
from sqlmodel import Field, col
from taskflow_chassis.types import utc_column, utcnow

from taskflow_notify.tables import NotifyTable


class EmailStatus(StrEnum):
    # Waiting for a job: just written, or back after a transient failure until next_attempt_at.
    PENDING = "pending"
    QUEUED = "queued"  # a send_email job was made (at queued_at); a lost one is made again
    SENDING = "sending"  # a job holds it (since sending_at); a hold past its lease is taken over
    SENT = "sent"
    # Refused for good by the SMTP server (5xx), or still failing after the retry horizon;
    # ``python -m taskflow_notify emails retry`` makes it pending again.
    FAILED = "failed"


class EmailMessage(NotifyTable, table=True):
    __tablename__ = "email_messages"
    # The dispatcher's question: which pending emails are due (and which are in flight).
    __table_args__ = (Index("ix_email_messages_status_next_attempt", "status", "next_attempt_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    notification_id: uuid.UUID | None = Field(default=None, index=True)
    dedupe_key: str = Field(max_length=200, unique=True)
    to_address: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    text_body: str = Field(sa_column=Column(Text, nullable=False))
    html_body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=EmailStatus.PENDING, max_length=16)
    attempts: int = 0
    # When a pending email may be tried again (empty: at once), and when the current run of
    # attempts began (the retry horizon counts from it).
    next_attempt_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    first_attempt_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # When a send_email job was last made for it: a job lost before it ran is made again.
    queued_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    sending_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


# A time given as it is, or as a bind parameter of a statement built once (service.py).
Moment = datetime | BindParameter[datetime]


def due_for_retry(now: Moment) -> ColumnElement[bool]:
    """Pending, and its next attempt (if it has one) has come."""
    return and_(
        col(EmailMessage.status) == EmailStatus.PENDING,
        or_(col(EmailMessage.next_attempt_at).is_(None), col(EmailMessage.next_attempt_at) <= now),
    )


def job_lost(now: datetime, requeue_after: timedelta) -> ColumnElement[bool]:
    """Queued, and no job has claimed it for ``requeue_after`` (the job went with Redis)."""
    return and_(
        col(EmailMessage.status) == EmailStatus.QUEUED,
        col(EmailMessage.queued_at) < now - requeue_after,
    )


def hold_expired(held_before: Moment) -> ColumnElement[bool]:
    """Held by a job since before ``held_before`` (now less the sending lease): its worker
    died mid-send."""
    return and_(
        col(EmailMessage.status) == EmailStatus.SENDING,
        col(EmailMessage.sending_at) < held_before,
    )
