"""Writing an email to the log, and sending one logged email, once (the ``send_email`` job).

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
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.charset import QP, Charset
from email.message import EmailMessage as MimeMessage
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from typing import Any, Protocol, TypeVar

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import bindparam, event, func, or_, select, update
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import col
from taskflow_chassis.db import Database, dialect_of, dialect_of_session, insert_or_ignore
from taskflow_chassis.pump import mark_session
from taskflow_chassis.types import UtcDateTime, table_of, utcnow

from taskflow_notify.config import NotifySettings
from taskflow_notify.email.adapters import EmailBackend
from taskflow_notify.email.models import EmailMessage, EmailStatus, due_for_retry, hold_expired
from taskflow_notify.email.rules import is_about_this_email, is_permanent, retry_delay

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
# Outcomes after which a job leaves the rest of its emails untouched: the database gave up.
_DATABASE_GONE = frozenset({"database unavailable", "sent, unrecorded"})


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class EmailTemplates:
    """A subject, a text part and an HTML part for each kind of email (package templates)."""

    def __init__(self) -> None:
        self.environment = Environment(
            loader=PackageLoader("taskflow_notify", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, template: str, **context: Any) -> Rendered:
        environment = self.environment
        subject = environment.get_template(f"{template}.subject.txt").render(**context).strip()
        return Rendered(
            subject=" ".join(subject.split())[:300],
            text=environment.get_template(f"{template}.txt").render(**context),
            html=environment.get_template(f"{template}.html").render(subject=subject, **context),
        )


@dataclass(frozen=True)
class OutgoingEmail:
    template: str
    to: str
    # Unique: however often its cause comes round, one email is written.
    dedupe_key: str
    context: dict[str, Any]
    notification_id: uuid.UUID | None = None


async def write_email(
    session: AsyncSession, templates: EmailTemplates, email: OutgoingEmail
) -> None:
    """Render the email and write it, pending, in the caller's transaction; the dispatcher
    queues it once that commits. A second one with the same dedupe key writes nothing."""
    await write_emails(session, [email_row(templates, email)])


def email_row(templates: EmailTemplates, email: OutgoingEmail) -> dict[str, Any]:
    """The email rendered, as the pending row ``write_emails`` writes."""
    rendered = templates.render(email.template, **email.context)
    return {
        "id": uuid.uuid4(),
        "notification_id": email.notification_id,
        "dedupe_key": email.dedupe_key,
        "to_address": email.to,
        "subject": rendered.subject,
        "text_body": rendered.text,
        "html_body": rendered.html,
        "status": str(EmailStatus.PENDING),
        "attempts": 0,
        "created_at": utcnow(),
    }


# Set on a session that wrote emails: its commit wakes the dispatcher (``scheduled.py``).
EMAIL_WRITTEN = "taskflow_email_written"


async def write_emails(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Rows of ``email_row`` in one statement, in the caller's transaction (a dedupe key
    already written writes nothing); the dispatcher queues them once that commits."""
    if not rows:
        return
    dialect = dialect_of_session(session)
    await session.execute(insert_or_ignore(dialect, EmailMessage, None, ["dedupe_key"]), rows)
    mark_session(session, EMAIL_WRITTEN)


# Bodies in quoted-printable UTF-8: readable as text, safe for any character.
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP


class StoredEmail(Protocol):
    """What sending reads of an email's row: the ORM's ``EmailMessage``, or the row a
    job's claim hands back as it is (building the ORM object cost a fifteenth of the
    worker's CPU an email)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def to_address(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def text_body(self) -> str: ...
    @property
    def html_body(self) -> str: ...
    @property
    def attempts(self) -> int: ...
    @property
    def first_attempt_at(self) -> datetime | None: ...


def mime(row: StoredEmail, sender: str) -> Message:
    """The email as a MIME message: a text and an HTML alternative.

    Headers all ASCII (the usual case): built with the standard library's plain MIME
    classes, which keep the header values as given, a twentieth of the CPU of parsing
    each back into a header object (a millisecond a message here). Otherwise the modern
    ``EmailMessage``, which encodes and folds any header rightly."""
    if not (row.subject.isascii() and row.to_address.isascii() and sender.isascii()):
        return _modern_mime(row, sender)
    message = MIMEMultipart("alternative")
    for name, value in _headers(row, sender):
        message[name] = value
    message.attach(_text(row.text_body, "plain"))
    message.attach(_text(row.html_body, "html"))
    return message


def _headers(row: StoredEmail, sender: str) -> list[tuple[str, str]]:
    # The row's id and nothing else (make_msgid would add the time and a random number): a
    # resend after a crash carries the same Message-ID, so clients can tell it is one email.
    return [
        ("From", sender),
        ("To", row.to_address),
        ("Subject", row.subject),
        ("Message-ID", f"<{row.id.hex}@taskflow.local>"),
        ("X-TaskFlow-Email-Id", str(row.id)),
    ]


def _text(body: str, subtype: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(body, _UTF8)  # sets the charset and the transfer encoding too
    return part


def _modern_mime(row: StoredEmail, sender: str) -> MimeMessage:
    message = MimeMessage()
    for name, value in _headers(row, sender):
        message[name] = value
    message.set_content(row.text_body)
    message.add_alternative(row.html_body, subtype="html")
    return message


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


# Every email a job sends runs these two: built once, their values bound (the reason is
# taskflow_chassis.bound's), on the table rather than the model: plain statements, none
# of the ORM's work around each (it was a fifth of the worker's CPU). The claim takes an
# email that is queued (its job, or a duplicate of it), due, or held past its lease:
# never one that is sent, failed, held by a live job, or waiting out its back-off.
_EMAILS = table_of(EmailMessage)
_NOW = bindparam("email_now", type_=UtcDateTime())
_CLAIM = (
    update(_EMAILS)
    .where(
        _EMAILS.c.id == bindparam("email_id"),
        or_(
            _EMAILS.c.status == EmailStatus.QUEUED,
            due_for_retry(_NOW),
            hold_expired(bindparam("email_held_before", type_=UtcDateTime())),
        ),
    )
    .values(
        status=EmailStatus.SENDING,
        sending_at=_NOW,
        attempts=_EMAILS.c.attempts + 1,
        first_attempt_at=func.coalesce(_EMAILS.c.first_attempt_at, _NOW),
    )
)
_CLAIM_RETURNING = _CLAIM.returning(*_EMAILS.c)
_SENT = (
    update(_EMAILS)
    .where(_EMAILS.c.id == bindparam("email_id"))
    .values(status=EmailStatus.SENT, sent_at=_NOW, last_error=None)
)
_READ = select(*_EMAILS.c).where(_EMAILS.c.id == bindparam("email_id"))


class _LaneConnection:
    """A Core connection whose statements each commit by themselves: no ORM session, unit
    of work, BEGIN or COMMIT around a job's claim and record (a third of the worker's CPU an
    email went to that machinery). Kept by one lane of a job from one statement to the
    next (taking one from the pool and giving it back around each statement was a tenth
    of the worker's CPU); after an error it goes back, and the next statement (a retry)
    takes another, so a stale connection is replaced as before."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._connection: AsyncConnection | None = None

    @property
    def update_returning(self) -> bool:
        return bool(self.database.autocommit_engine.dialect.update_returning)

    async def execute(self, statement: Any, params: dict[str, Any] | None = None) -> Any:
        if self._connection is None:
            self._connection = await self.database.autocommit_engine.connect()
        try:
            return await self._connection.execute(statement, params)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.close()
        except Exception:  # broken with the database: the pool discards it
            logger.debug("closing a job's connection failed", exc_info=True)


@dataclass
class _JobState:
    """What a job's connections learn as they go, shared: the server failed (the emails
    after it are not tried against it), or the database is out of patience."""

    server_down: Exception | None = None
    database_gone: bool = False


class EmailSender:
    """Sends logged emails, each once. One per process (the Celery app's jobs hold it), so
    what it learns of the mail server carries over from one email to the next."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        # Set when a send failed for a reason that is not this email's (the server refused
        # the connection, dropped it, timed out); cleared by the next success, which brings
        # every email waiting out its back-off forward: they go now, not minutes after the
        # server returned. The success path pays nothing while it is clear.
        self.server_trouble = threading.Event()

    async def send(self, email_id: uuid.UUID, backend: EmailBackend, database: Database) -> str:
        """Send the email if it is this job's to send; answer what happened (never raises)."""
        [outcome] = await self.send_many([email_id], [backend], database)
        return outcome

    async def send_many(
        self, email_ids: list[uuid.UUID], backends: Sequence[EmailBackend], database: Database
    ) -> list[str]:
        """Send each email that is this job's to send, over the backends' connections at
        once (email ``i`` on connection ``i mod n``, one after the other on each); answer
        what happened to each, in order (never raises).

        Each email is claimed, sent and recorded on its own, as if it were a job of its own:
        one the server refuses fails or waits alone, and a worker dying mid-way leaves the
        rest queued (or the ones in hand held) for the dispatcher. A backend reconnects
        once when the server has dropped its connection; when the server itself fails (a
        refused, dropped or timed-out connection), the emails after it are not tried
        against it again: each is recorded with that same failure, as its own job would
        have found it, and waits out its own back-off. Once the database is out of
        patience, the rest are left as they are, for the dispatcher to queue again."""
        outcomes = [""] * len(email_ids)
        lanes = min(len(backends), len(email_ids))
        shared = _JobState()
        await asyncio.gather(
            *(
                self._send_lane(
                    [(i, email_ids[i]) for i in range(lane, len(email_ids), lanes)],
                    backends[lane],
                    database,
                    outcomes,
                    shared,
                )
                for lane in range(lanes)
            )
        )
        return outcomes

    async def _send_lane(
        self,
        emails: list[tuple[int, uuid.UUID]],
        backend: EmailBackend,
        database: Database,
        outcomes: list[str],
        shared: _JobState,
    ) -> None:
        connection = _LaneConnection(database)
        try:
            for position, email_id in emails:
                if shared.database_gone:
                    outcomes[position] = "database unavailable"
                    continue
                outcome = await self._send_one(email_id, backend, connection, shared)
                outcomes[position] = outcome
                if outcome in _DATABASE_GONE:
                    shared.database_gone = True
        finally:
            await connection.close()

    async def _send_one(
        self,
        email_id: uuid.UUID,
        backend: EmailBackend,
        connection: _LaneConnection,
        shared: _JobState,
    ) -> str:
        """One email: claimed, sent, recorded. Only a send's own outcome changes what the
        job knows of the server (failed: ``shared.server_down``; sent: cleared), and it is
        read after the claim, just before the send, so the job's other connections see a
        failure as soon as it is known and a lane never writes back what it read before."""
        lease = timedelta(seconds=self.settings.email_sending_lease_seconds)
        try:
            row, claimed_at = await _retrying(
                lambda: self._claim(connection, email_id, lease), DB_PATIENCE_SECONDS
            )
        except Exception as exc:
            # Not final: the row is still queued (or held, if the claim committed unseen),
            # and the dispatcher queues it again.
            logger.warning("email %s left for a later job, database unavailable: %s", email_id, exc)
            return "database unavailable"
        if row is None:
            # Sent, failed, being sent by another job, not due yet, or unknown: nothing to do.
            return "skipped"
        if shared.server_down is not None:
            return await self._record_failure(connection, row, claimed_at, shared.server_down)
        held_until = time.monotonic() + lease.total_seconds()
        try:
            message = mime(row, self.settings.email_from)
            await asyncio.to_thread(backend.send, message)
        except Exception as exc:
            if not is_about_this_email(exc):
                self.server_trouble.set()
                shared.server_down = exc
            return await self._record_failure(connection, row, claimed_at, exc)
        shared.server_down = None  # the server took it: it answers again
        # Accepted: record it at once. Until this commits, a crash means a resend; the hold
        # keeps other jobs off the row while the database is retried, up to the lease.
        sent = {"email_id": row.id, "email_now": utcnow()}
        try:
            await _retrying(lambda: connection.execute(_SENT, sent), held_until - time.monotonic())
        except Exception as exc:
            logger.error(
                "email %s was sent but could not be recorded; it may be sent again: %s",
                row.id,
                exc,
            )
            return "sent, unrecorded"
        logger.info("sent email %s to %s", row.id, row.to_address)
        if self.server_trouble.is_set():
            await self._server_is_back(connection)
        return "sent"

    async def _claim(
        self, connection: _LaneConnection, email_id: uuid.UUID, lease: timedelta
    ) -> tuple[StoredEmail | None, datetime]:
        now = utcnow()
        params = {"email_id": email_id, "email_now": now, "email_held_before": now - lease}
        if connection.update_returning:
            # The claim hands back the row it claimed: one statement, not two.
            claimed_row = (await connection.execute(_CLAIM_RETURNING, params)).one_or_none()
            return claimed_row, now
        claimed = (await connection.execute(_CLAIM, params)).rowcount
        if claimed != 1:
            return None, now
        found = (await connection.execute(_READ, {"email_id": email_id})).one_or_none()
        return found, now

    async def _server_is_back(self, connection: _LaneConnection) -> None:
        self.server_trouble.clear()
        now = utcnow()
        # Every email waiting out its back-off goes now, but none sooner than the floor after
        # its last try: one the server drops every time (it set the trouble itself a moment
        # ago) is still tried no more often than that.
        floor = timedelta(seconds=self.settings.email_retry_floor_seconds)
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
            await connection.execute(tried_long_ago.values(next_attempt_at=now))
            await connection.execute(tried_just_now.values(next_attempt_at=now + floor))
        except Exception as exc:  # they keep their own schedule
            logger.warning("could not bring retries forward: %s", exc)
            return
        logger.info("the mail server answers again: waiting emails are due now")

    def _outcome(self, row: StoredEmail, claimed_at: datetime, exc: Exception) -> dict[str, Any]:
        """The row's new values after a failed attempt: failed for good, or a later retry."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        now = utcnow()
        first = row.first_attempt_at or claimed_at
        horizon = timedelta(hours=self.settings.email_retry_horizon_hours)
        if is_permanent(exc) or now - first >= horizon:
            logger.error(
                "email %s to %s failed after %d attempt(s): %s",
                row.id, row.to_address, row.attempts, error,
            )  # fmt: skip
            return {"status": EmailStatus.FAILED, "last_error": error}
        delay = retry_delay(row.attempts, self.settings)
        logger.warning(
            "email %s to %s: attempt %d failed, next in %.0f s: %s",
            row.id, row.to_address, row.attempts, delay, error,
        )  # fmt: skip
        return {
            "status": EmailStatus.PENDING,
            "next_attempt_at": now + timedelta(seconds=delay),
            "last_error": error,
        }

    async def _record_failure(
        self, connection: _LaneConnection, row: StoredEmail, claimed_at: datetime, exc: Exception
    ) -> str:
        values = self._outcome(row, claimed_at, exc)
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
            await _retrying(lambda: connection.execute(record), DB_PATIENCE_SECONDS)
        except Exception as db_exc:
            # Still held: once the lease has passed, the dispatcher queues it again.
            logger.warning("email %s: could not record the failure: %s", row.id, db_exc)
            return "database unavailable"
        return "failed" if values["status"] == EmailStatus.FAILED else "retry"
