"""Sending one logged email, once: the body of the ``send_email`` job."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from email.message import EmailMessage as MimeMessage
from email.utils import make_msgid

from sqlalchemy import and_, or_, update
from sqlalchemy.pool import NullPool
from taskflow_chassis.db import Database
from taskflow_chassis.types import utcnow

from taskflow_notify.config import NotifySettings
from taskflow_notify.email.backends import EmailBackend, create_backend
from taskflow_notify.notifications.models import EmailMessage, EmailStatus

logger = logging.getLogger("taskflow.notify.email")


class EmailInFlight(Exception):
    """Another job is sending this email now; Celery retries this one later."""


def mime(row: EmailMessage, sender: str) -> MimeMessage:
    message = MimeMessage()
    message["From"] = sender
    message["To"] = row.to_address
    message["Subject"] = row.subject
    # Derived from the row: a resend after a crash carries the same id, so clients can dedupe.
    message["Message-ID"] = make_msgid(idstring=row.id.hex, domain="taskflow.local")
    message["X-TaskFlow-Email-Id"] = str(row.id)
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    return message


async def send_logged_email(
    email_id: uuid.UUID,
    settings: NotifySettings,
    backend: EmailBackend | None = None,
    database: Database | None = None,
) -> str:
    """Send the email unless it was sent, or another job is sending it; answer what happened.

    The row is claimed first (status ``sending``, one guarded update), so two jobs for one
    email (a duplicate, a redelivery racing the original) never both send. A claim older
    than the visibility timeout belongs to a worker that died mid-send and is taken over.
    """
    owned = database is None
    database = database or Database(settings.resolved_database_url(), poolclass=NullPool)
    owned_backend = backend is None
    backend = backend or create_backend(settings.resolved_email_url())
    try:
        async with database.session() as session:
            now = utcnow()
            stale = now - timedelta(seconds=settings.celery_visibility_timeout)
            claim = (
                update(EmailMessage)
                .where(
                    EmailMessage.id == email_id,  # type: ignore[arg-type]
                    or_(
                        EmailMessage.status.in_([EmailStatus.PENDING, EmailStatus.QUEUED]),  # type: ignore[attr-defined]
                        and_(
                            EmailMessage.status == EmailStatus.SENDING,
                            EmailMessage.sending_at < stale,
                        ),  # type: ignore[arg-type,operator]
                    ),
                )
                .values(
                    status=EmailStatus.SENDING, sending_at=now, attempts=EmailMessage.attempts + 1
                )
            )
            row: EmailMessage | None
            if session.get_bind().dialect.update_returning:
                # The claim hands back the row it claimed: one statement, not two.
                row = (await session.execute(claim.returning(EmailMessage))).scalar_one_or_none()
                claimed = row is not None
            else:
                claimed = (await session.execute(claim)).rowcount == 1  # type: ignore[attr-defined]
                row = None
            await session.commit()
            row = row or await session.get(EmailMessage, email_id)
            if row is None:
                return "missing"
            if not claimed:
                if row.status in {EmailStatus.SENT, EmailStatus.FAILED}:
                    return f"already {row.status}"
                # Another job holds it, or held it until a moment ago (a worker died
                # mid-send): try again later rather than drop it.
                raise EmailInFlight(
                    f"email {email_id} is held by another job since {row.sending_at}"
                )
            try:
                await asyncio.to_thread(backend.send, mime(row, settings.email_from))
            except Exception as exc:
                # Back to queued: Celery's retry of this job claims it again.
                row.status, row.last_error = (
                    EmailStatus.QUEUED,
                    f"{type(exc).__name__}: {exc}"[:2000],
                )
                await session.commit()
                raise
            row.status, row.sent_at, row.last_error = EmailStatus.SENT, utcnow(), None
            await session.commit()
            logger.info("sent email %s to %s", row.id, row.to_address)
            return "sent"
    finally:
        if owned:
            await database.dispose()
        close = getattr(backend, "close", None)
        if owned_backend and close is not None:
            close()


async def mark_failed(email_id: uuid.UUID, settings: NotifySettings, error: str) -> None:
    database = Database(settings.resolved_database_url(), poolclass=NullPool)
    try:
        async with database.session() as session:
            row = await session.get(EmailMessage, email_id)
            if row is not None and row.status != EmailStatus.SENT:
                row.status, row.last_error = EmailStatus.FAILED, error[:2000]
                await session.commit()
    finally:
        await database.dispose()
