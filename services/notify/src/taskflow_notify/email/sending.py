"""Sending one logged email, once: the body of the ``send_email`` job.

An email's row says where it stands, and nothing else does: no job waits in Redis
for a later attempt. A job claims the row (status ``sending``, one guarded update),
sends, and records the outcome:

- accepted by the SMTP server: ``sent``, committed at once (a crash between the
  server's acceptance and that commit is the only way an email goes out twice, and
  the resend carries the same Message-ID);
- a transient failure (SMTP 4xx, a dropped, refused or timed-out connection, any
  other error): back to ``pending`` with its next attempt after a back-off, which the
  dispatcher queues when due;
- a permanent refusal (SMTP 5xx to the sender, the recipient or the data), or a
  transient failure once the first attempt is older than the retry horizon:
  ``failed``, until an operator retries it (``python -m taskflow_notify emails retry``).

Database errors are retried and are never final: a job that cannot reach the database
for ``DB_PATIENCE_SECONDS`` leaves the row as it was (queued, or held until its lease
passes) and the dispatcher queues it again; a sent email's record is retried for as long
as the job's hold on it lasts. The job never raises.

When the mail server itself was failing (refused or dropped connections, timeouts), the
first email it accepts again makes every email waiting out its back-off due at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import smtplib
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from email.message import EmailMessage as MimeMessage
from typing import Any, TypeVar

from sqlalchemy import event, func, or_, update
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql import ColumnElement
from sqlmodel import col
from taskflow_chassis.db import Database, dialect_of
from taskflow_chassis.types import utcnow

from taskflow_notify.config import NotifySettings
from taskflow_notify.email.backends import EmailBackend, create_backend
from taskflow_notify.notifications.models import (
    EmailMessage,
    EmailStatus,
    due_for_retry,
    hold_expired,
)

logger = logging.getLogger("taskflow.notify.email")

T = TypeVar("T")

# A database error is retried at once (a stale connection is replaced by the retry),
# then after these pauses (the last one repeated).
_DB_PAUSES = (0.0, 0.5, 1.0, 2.0)
# How long a job keeps trying the database before it leaves the email to the dispatcher:
# a restart or a fail-over is usually over by then, and the jobs behind it in Redis then
# run at once instead of waiting for the requeue window.
DB_PATIENCE_SECONDS = 10.0
# A connection idle longer than this is tested before use (a database restart or an idle
# timeout may have closed it); a busy worker's connections are not: no round trip per email.
IDLE_PING_SECONDS = 5.0


def mime(row: EmailMessage, sender: str) -> MimeMessage:
    message = MimeMessage()
    message["From"] = sender
    message["To"] = row.to_address
    message["Subject"] = row.subject
    # The row's id and nothing else (make_msgid would add the time and a random number): a
    # resend after a crash carries the same Message-ID, so clients can tell it is one email.
    message["Message-ID"] = f"<{row.id.hex}@taskflow.local>"
    message["X-TaskFlow-Email-Id"] = str(row.id)
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    return message


def is_permanent(exc: BaseException) -> bool:
    """A 5xx refusal of this email's sender, recipient or content: sending it again cannot
    help. Anything else (4xx, a lost connection, a timeout, an authentication or TLS
    problem that an operator can mend) is worth another attempt."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # One (code, message) per refused recipient; raised only when all were refused.
        codes = [entry[0] for entry in exc.recipients.values()]
        return bool(codes) and all(500 <= int(code) < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return 500 <= int(exc.smtp_code) < 600
    return False


def is_about_this_email(exc: BaseException) -> bool:
    """The server refused this email's sender, recipient or content (4xx or 5xx), rather
    than failing everyone's (refused or dropped connections, timeouts, TLS, log-in)."""
    return isinstance(
        exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPSenderRefused | smtplib.SMTPDataError
    )


def retry_delay(attempts: int, settings: NotifySettings) -> float:
    """Seconds before attempt ``attempts + 1``: floor * 2^(attempts - 1), capped at the
    maximum, with jitter over its upper half that never goes below the floor."""
    floor = settings.email_retry_floor_seconds
    ceiling = max(floor, settings.email_retry_max_seconds)
    delay = min(ceiling, floor * 2.0 ** min(max(attempts - 1, 0), 60))
    return random.uniform(max(floor, delay / 2), delay)  # noqa: S311 - jitter, not a secret


def job_database(settings: NotifySettings) -> Database:
    """The worker's database: a connection idle for a while is tested before use and
    replaced if it went stale; a failed connect gives up in seconds, not a minute."""
    url = settings.resolved_database_url()
    dialect = dialect_of(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": settings.db_pool_pre_ping}
    if dialect != "sqlite":
        kwargs |= {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow}
    if dialect == "postgresql":
        kwargs["connect_args"] = {"timeout": 10}
    elif dialect == "mysql":
        kwargs["connect_args"] = {"connect_timeout": 10}
    database = Database(url, **kwargs)
    if dialect != "sqlite":
        ping_idle_connections(database)
    return database


def ping_idle_connections(database: Database, idle_seconds: float = IDLE_PING_SECONDS) -> None:
    engine = database.engine.sync_engine

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["taskflow_idle_since"] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("taskflow_idle_since")
        if idle_since is None or time.monotonic() - idle_since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool drops this connection and checks out another (a new one).
            raise DisconnectionError(f"stale connection replaced: {exc}") from exc

    event.listen(engine, "checkin", checkin)
    event.listen(engine, "checkout", checkout)


async def _retrying(operation: Callable[[], Awaitable[T]], give_up_after: float) -> T:
    """Run a database operation, again after an error, until it works or time is up (then
    its last error propagates)."""
    deadline = time.monotonic() + give_up_after
    tries = 0
    while True:
        try:
            return await operation()
        except Exception as exc:
            pause = _DB_PAUSES[min(tries, len(_DB_PAUSES) - 1)]
            if time.monotonic() + pause > deadline:
                raise
            tries += 1
            logger.warning("database error, retrying in %.1f s: %s", pause, exc)
            await asyncio.sleep(pause)


def _claimable(now: datetime, lease: timedelta) -> ColumnElement[bool]:
    # Queued (its job, or a duplicate of it), due, or held past its lease: never an email
    # that is sent, failed, held by a live job, or waiting out its back-off.
    return or_(
        col(EmailMessage.status) == EmailStatus.QUEUED,
        due_for_retry(now),
        hold_expired(now, lease),
    )


async def _claim(
    database: Database, email_id: uuid.UUID, lease: timedelta
) -> tuple[EmailMessage | None, datetime]:
    now = utcnow()
    claim = (
        update(EmailMessage)
        .where(col(EmailMessage.id) == email_id, _claimable(now, lease))
        .values(
            status=EmailStatus.SENDING,
            sending_at=now,
            attempts=col(EmailMessage.attempts) + 1,
            first_attempt_at=func.coalesce(col(EmailMessage.first_attempt_at), now),
        )
    )
    # One statement, so no transaction around it: autocommit spares BEGIN and COMMIT.
    async with database.read_sessionmaker() as session:
        if session.get_bind().dialect.update_returning:
            # The claim hands back the row it claimed: one statement, not two.
            result = await session.execute(claim.returning(EmailMessage))
            row: EmailMessage | None = result.scalar_one_or_none()
            return row, now
        claimed = (await session.execute(claim)).rowcount == 1  # type: ignore[attr-defined]
        return (await session.get(EmailMessage, email_id) if claimed else None), now


async def _execute(database: Database, statement: Any) -> None:
    async with database.read_sessionmaker() as session:  # one statement: autocommit
        await session.execute(statement, execution_options={"synchronize_session": False})


async def send_logged_email(
    email_id: uuid.UUID,
    settings: NotifySettings,
    backend: EmailBackend | None = None,
    database: Database | None = None,
) -> str:
    """Send the email if it is this job's to send; answer what happened (never raises)."""
    owned = database is None
    database = database or Database(settings.resolved_database_url(), poolclass=NullPool)
    owned_backend = backend is None
    backend = backend or create_backend(settings.resolved_email_url())
    try:
        return await _send(email_id, settings, backend, database)
    finally:
        if owned:
            await database.dispose()
        close = getattr(backend, "close", None)
        if owned_backend and close is not None:
            close()


async def _send(
    email_id: uuid.UUID, settings: NotifySettings, backend: EmailBackend, database: Database
) -> str:
    lease = timedelta(seconds=settings.email_sending_lease_seconds)
    try:
        row, claimed_at = await _retrying(
            lambda: _claim(database, email_id, lease), DB_PATIENCE_SECONDS
        )
    except Exception as exc:
        # Not final: the row is still queued (or held, if the claim committed unseen),
        # and the dispatcher queues it again.
        logger.warning("email %s left for a later job, database unavailable: %s", email_id, exc)
        return "database unavailable"
    if row is None:
        # Sent, failed, being sent by another job, not due yet, or unknown: nothing to do.
        return "skipped"
    held_until = time.monotonic() + lease.total_seconds()
    try:
        message = mime(row, settings.email_from)
        await asyncio.to_thread(backend.send, message)
    except Exception as exc:
        if not is_about_this_email(exc):
            _server_trouble.set()
        return await _record_failure(database, row, claimed_at, exc, settings)
    # Accepted: record it at once. Until this commits, a crash means a resend; the hold
    # keeps other jobs off the row while the database is retried, up to the lease.
    sent = update(EmailMessage).where(col(EmailMessage.id) == row.id)
    sent = sent.values(status=EmailStatus.SENT, sent_at=utcnow(), last_error=None)
    try:
        await _retrying(lambda: _execute(database, sent), held_until - time.monotonic())
    except Exception as exc:
        logger.error(
            "email %s was sent but could not be recorded; it may be sent again: %s", row.id, exc
        )
        return "sent, unrecorded"
    logger.info("sent email %s to %s", row.id, row.to_address)
    if _server_trouble.is_set():
        await _server_is_back(database, settings)
    return "sent"


# Set when a send failed for a reason that is not this email's (the server refused the
# connection, dropped it, timed out); cleared by the next success, which brings every
# email waiting out its back-off forward: they go now, not minutes after the server
# returned. Per process; the success path pays nothing while it is clear.
_server_trouble = threading.Event()


async def _server_is_back(database: Database, settings: NotifySettings) -> None:
    _server_trouble.clear()
    now = utcnow()
    # Every email waiting out its back-off goes now, but none sooner than the floor after
    # its last try: one the server drops every time (it set the trouble itself a moment
    # ago) is still tried no more often than that.
    floor = timedelta(seconds=settings.email_retry_floor_seconds)
    waiting = (
        col(EmailMessage.status) == EmailStatus.PENDING,
        col(EmailMessage.next_attempt_at) > now,
    )
    tried_long_ago = update(EmailMessage).where(
        *waiting, col(EmailMessage.sending_at) <= now - floor
    )
    tried_just_now = update(EmailMessage).where(
        *waiting,
        col(EmailMessage.sending_at) > now - floor,
        col(EmailMessage.next_attempt_at) > now + floor,
    )
    try:
        await _execute(database, tried_long_ago.values(next_attempt_at=now))
        await _execute(database, tried_just_now.values(next_attempt_at=now + floor))
    except Exception as exc:  # they keep their own schedule
        logger.warning("could not bring retries forward: %s", exc)
        return
    logger.info("the mail server answers again: waiting emails are due now")


async def _record_failure(
    database: Database,
    row: EmailMessage,
    claimed_at: datetime,
    exc: Exception,
    settings: NotifySettings,
) -> str:
    error = f"{type(exc).__name__}: {exc}"[:2000]
    now = utcnow()
    first = row.first_attempt_at or claimed_at
    horizon = timedelta(hours=settings.email_retry_horizon_hours)
    values: dict[str, Any]
    if is_permanent(exc) or now - first >= horizon:
        outcome, values = "failed", {"status": EmailStatus.FAILED, "last_error": error}
        logger.error(
            "email %s to %s failed after %d attempt(s): %s",
            row.id,
            row.to_address,
            row.attempts,
            error,
        )
    else:
        delay = retry_delay(row.attempts, settings)
        outcome = "retry"
        values = {
            "status": EmailStatus.PENDING,
            "next_attempt_at": now + timedelta(seconds=delay),
            "last_error": error,
        }
        logger.warning(
            "email %s to %s: attempt %d failed, next in %.0f s: %s",
            row.id, row.to_address, row.attempts, delay, error,
        )  # fmt: skip
    # Only while this job still holds it: a job that took over a hold past its lease wins.
    record = (
        update(EmailMessage)
        .where(
            col(EmailMessage.id) == row.id,
            col(EmailMessage.status) == EmailStatus.SENDING,
            col(EmailMessage.sending_at) == claimed_at,
        )
        .values(**values)
    )
    try:
        await _retrying(lambda: _execute(database, record), DB_PATIENCE_SECONDS)
    except Exception as db_exc:
        # Still held: once the lease has passed, the dispatcher queues it again.
        logger.warning("email %s: could not record the failure: %s", row.id, db_exc)
        return "database unavailable"
    return outcome
