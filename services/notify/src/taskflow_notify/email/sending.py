"""Sending one logged email, once: the body of the ``send_email`` job."""

from __future__ import annotations

import asyncio
import logging
import uuid
from email.message import EmailMessage as MimeMessage
from email.utils import make_msgid

from sqlalchemy.pool import NullPool
from taskflow_chassis.db import Database
from taskflow_chassis.types import utcnow

from taskflow_notify.config import NotifySettings
from taskflow_notify.email.backends import EmailBackend, create_backend
from taskflow_notify.notifications.models import EmailMessage, EmailStatus

logger = logging.getLogger("taskflow.notify.email")


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
    email_id: uuid.UUID, settings: NotifySettings, backend: EmailBackend | None = None
) -> str:
    """Send the email unless it was sent already; answer what happened."""
    database = Database(settings.resolved_database_url(), poolclass=NullPool)
    backend = backend or create_backend(settings.resolved_email_url())
    try:
        async with database.session() as session:
            row = await session.get(EmailMessage, email_id)
            if row is None:
                return "missing"
            if row.status == EmailStatus.SENT:
                return "already sent"
            row.attempts += 1
            await session.commit()
            try:
                await asyncio.to_thread(backend.send, mime(row, settings.email_from))
            except Exception as exc:
                row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                await session.commit()
                raise
            row.status, row.sent_at, row.last_error = EmailStatus.SENT, utcnow(), None
            await session.commit()
            logger.info("sent email %s to %s", row.id, row.to_address)
            return "sent"
    finally:
        await database.dispose()


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
