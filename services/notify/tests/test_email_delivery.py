"""Email is delivered, once, whatever fails: SMTP refusals and outages, database errors,
lost jobs and dead workers, on SQLite and PostgreSQL.

The app runs in-process with eager Celery (the job runs inside the dispatcher's
enqueue) and sends to an aiosmtpd server started here; the dispatcher's sweep is run
by hand. The SMTP server counts every RCPT, so a retry storm or a resend shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import io
import smtplib
import socket
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage as MimeMessage
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi import FastAPI
from sqlalchemy import event, select, update
from sqlalchemy.exc import OperationalError
from sqlmodel import col
from taskflow_chassis.db import Database, dialect_of
from taskflow_chassis.ports import free_port
from taskflow_chassis.testing import TestTokens, app_running, unreachable_service
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import Publisher
from taskflow_notify.app import create_app
from taskflow_notify.config import NotifySettings
from taskflow_notify.email import service as email_service
from taskflow_notify.email.adapters import SmtpBackend
from taskflow_notify.email.commands import emails_command
from taskflow_notify.email.jobs import SEND_EMAIL
from taskflow_notify.email.models import EmailMessage, EmailStatus
from taskflow_notify.email.rules import is_permanent, retry_delay
from taskflow_notify.email.scheduled import EmailDispatcher
from taskflow_notify.email.service import EmailSender, EmailTemplates, job_database, mime
from taskflow_notify.notifications import service
from taskflow_notify.worker import create_celery_app

from .conftest import Recorder, reset_outgoing, send_logged_email

FLOOR = 10.0  # the default floor: no test waits for it, the clock is moved instead


@dataclass
class Mailer:
    app: FastAPI
    settings: NotifySettings
    recorder: Recorder

    @property
    def database(self) -> Database:
        database: Database = self.app.state.database
        return database

    @property
    def dispatcher(self) -> EmailDispatcher:
        dispatcher: EmailDispatcher = self.app.state.email_dispatcher
        return dispatcher

    async def add(self, to: str) -> uuid.UUID:
        async with self.database.session() as session:
            await service.deliver(session, EmailTemplates(), reset_outgoing(to))
            await session.commit()
            found = await session.execute(
                select(col(EmailMessage.id)).where(col(EmailMessage.to_address) == to)
            )
            return found.scalars().one()

    async def row(self, email_id: uuid.UUID) -> EmailMessage:
        async with self.database.session() as session:
            row = await session.get(EmailMessage, email_id)
        assert row is not None
        return row

    async def set(self, email_id: uuid.UUID, **values: Any) -> None:
        async with self.database.session() as session:
            await session.execute(
                update(EmailMessage).where(col(EmailMessage.id) == email_id).values(**values)
            )
            await session.commit()

    async def due_now(self, email_id: uuid.UUID) -> None:
        """The back-off has passed (the clock moved on, not the test)."""
        await self.set(email_id, next_attempt_at=utcnow() - timedelta(seconds=1))

    async def emails(self, *argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = await emails_command(self.settings, list(argv), out=out)
        return code, out.getvalue()


@pytest.fixture
async def mailer(
    database_url: str, tmp_path: Path, smtp: tuple[Recorder, int]
) -> AsyncIterator[Mailer]:
    recorder, port = smtp
    settings = NotifySettings(
        data_dir=tmp_path,
        database_url=database_url,
        event_bus_url=f"memory://mail-{uuid.uuid4().hex[:8]}",
        public_url="https://taskflow.example",
        email_url=f"smtp://127.0.0.1:{port}",
        reminder_timer=False,
    )
    app = create_app(
        settings, jwks_fetcher=TestTokens().jwks, teams_transport=unreachable_service()
    )
    async with app_running(app):
        await app.state.email_dispatcher.stop()  # its sweeps are run by hand below
        yield Mailer(app, settings, recorder)


async def test_a_451_comes_back_after_the_floor_and_is_sent_once(mailer: Mailer) -> None:
    recorder = mailer.recorder
    recorder.reply = "451 4.3.0 Try again later"
    email_id = await mailer.add("ann@example.com")
    assert await mailer.dispatcher.run_once() == 1
    row = await mailer.row(email_id)
    assert (row.status, row.attempts) == (EmailStatus.PENDING, 1)
    assert row.last_error and "451" in row.last_error
    assert row.next_attempt_at and row.sending_at
    assert row.next_attempt_at >= row.sending_at + timedelta(seconds=FLOOR)
    assert await mailer.dispatcher.run_once() == 0  # not due yet: nobody tries it again
    assert len(recorder.tries("ann@example.com")) == 1
    recorder.reply = None  # the server is back
    await mailer.due_now(email_id)
    assert await mailer.dispatcher.run_once() == 1
    row = await mailer.row(email_id)
    assert (row.status, row.attempts, row.last_error) == (EmailStatus.SENT, 2, None)
    [message] = recorder.to("ann@example.com")
    assert message["Message-ID"] == f"<{email_id.hex}@taskflow.local>"
    assert len(recorder.tries("ann@example.com")) == 2
    # A second job for a sent email sends nothing.
    assert await mailer.dispatcher.run_once() == 0
    assert await send_logged_email(email_id, mailer.settings) == "skipped"
    assert len(recorder.messages) == 1


async def test_an_smtp_server_that_is_down_is_tried_again_and_sent_once(mailer: Mailer) -> None:
    email_id = await mailer.add("bob@example.com")
    await mailer.set(email_id, status=EmailStatus.QUEUED, queued_at=utcnow())
    port = free_port()  # nothing listens there yet
    backend = SmtpBackend(f"smtp://127.0.0.1:{port}")
    outcome = await send_logged_email(email_id, mailer.settings, backend=backend)
    assert outcome == "retry"
    row = await mailer.row(email_id)
    assert row.status == EmailStatus.PENDING and row.attempts == 1
    assert row.last_error and "ConnectionRefusedError" in row.last_error
    assert row.next_attempt_at and row.sending_at
    assert row.next_attempt_at >= row.sending_at + timedelta(seconds=FLOOR)
    # Not due: a duplicate job does nothing.
    assert await send_logged_email(email_id, mailer.settings, backend=backend) == "skipped"
    recorder = Recorder()
    server = Controller(recorder, hostname="127.0.0.1", port=port)
    server.start()
    try:
        await mailer.due_now(email_id)
        assert await send_logged_email(email_id, mailer.settings, backend=backend) == "sent"
        assert await send_logged_email(email_id, mailer.settings, backend=backend) == "skipped"
    finally:
        backend.close()
        server.stop()
    assert len(recorder.to("bob@example.com")) == 1
    assert (await mailer.row(email_id)).status == EmailStatus.SENT


async def test_once_the_server_answers_again_the_waiting_emails_are_due_at_once(
    mailer: Mailer,
) -> None:
    port = free_port()  # nothing listens there yet
    backend = SmtpBackend(f"smtp://127.0.0.1:{port}")
    # One sender, as in a worker: what it learns of the server carries over between emails.
    sender = EmailSender(mailer.settings)

    async def send(email_id: uuid.UUID) -> str:
        return await sender.send(email_id, backend, mailer.database)

    waiting = [await mailer.add(f"wait{n}@example.com") for n in range(2)]
    for email_id in waiting:
        assert await send(email_id) == "retry"
    later = utcnow() + timedelta(seconds=FLOOR - 1)
    for email_id in waiting:
        next_attempt = (await mailer.row(email_id)).next_attempt_at
        assert next_attempt is not None and next_attempt > later
    queued: list[uuid.UUID] = []

    async def enqueue(email_ids: list[uuid.UUID]) -> None:
        queued.extend(email_ids)

    assert await EmailDispatcher(mailer.database, enqueue, Publisher("notify")).run_once() == 0
    # Their attempts were a floor ago by the time the server returns; one more email was
    # tried a moment ago (say, one the server drops every time): it keeps its floor.
    for email_id in waiting:
        await mailer.set(email_id, sending_at=utcnow() - timedelta(seconds=FLOOR + 1))
    just_tried = await mailer.add("just@example.com")
    assert await send(just_tried) == "retry"
    recorder = Recorder()
    server = Controller(recorder, hostname="127.0.0.1", port=port)
    server.start()
    try:
        fresh = await mailer.add("fresh@example.com")
        assert await send(fresh) == "sent"
        # The server is back: the emails waiting out their back-off go now.
        assert await EmailDispatcher(mailer.database, enqueue, Publisher("notify")).run_once() == 2
        assert sorted(queued) == sorted(waiting)
        # ...and goes a floor after its last try, not at its longer back-off.
        next_attempt = (await mailer.row(just_tried)).next_attempt_at
        assert next_attempt is not None
        assert utcnow() < next_attempt <= utcnow() + timedelta(seconds=FLOOR)
        for email_id in waiting:
            assert await send(email_id) == "sent"
    finally:
        backend.close()
        server.stop()
    assert len(recorder.messages) == 3
    assert not sender.server_trouble.is_set()


async def test_a_550_fails_at_once_and_emails_retry_sends_it(mailer: Mailer) -> None:
    recorder = mailer.recorder
    recorder.reply = "550 5.1.1 No such user here"
    first = await mailer.add("gone@example.com")
    second = await mailer.add("also-gone@example.com")
    assert await mailer.dispatcher.run_once() == 2
    for email_id in (first, second):
        row = await mailer.row(email_id)
        assert (row.status, row.attempts) == (EmailStatus.FAILED, 1)
        assert row.last_error and "550" in row.last_error
    assert await mailer.dispatcher.run_once() == 0  # failed is final: no more attempts
    assert len(recorder.attempts) == 2 and recorder.messages == []
    code, listing = await mailer.emails("list", "--status", "failed")
    assert code == 0
    lines = listing.splitlines()
    assert lines[0] == "id\tstatus\tto\tsubject\tattempts\tlast_error"
    refusal = "(550, b'5.1.1 No such user here')"
    assert len(lines) == 3 and all(refusal in line for line in lines[1:])
    assert {line.split("\t")[0] for line in lines[1:]} == {str(first), str(second)}

    recorder.reply = None  # the address was mended
    code, output = await mailer.emails("retry", "--id", str(first))
    assert code == 0 and f"retrying {first}" in output
    row = await mailer.row(first)
    assert (row.status, row.attempts, row.first_attempt_at) == (EmailStatus.PENDING, 0, None)
    assert (await mailer.row(second)).status == EmailStatus.FAILED  # only the one asked for
    assert await mailer.dispatcher.run_once() == 1
    assert (await mailer.row(first)).status == EmailStatus.SENT
    assert len(recorder.to("gone@example.com")) == 1

    # A sent email is not retried; an unknown id is said so; both exit 1.
    code, output = await mailer.emails("retry", "--id", str(first), "--id", str(uuid.uuid4()))
    assert code == 1 and "is sent, not failed" in output and "no email" in output
    code, output = await mailer.emails("retry", "--all-failed")
    assert code == 0 and "1 failed email(s) pending again" in output
    assert await mailer.dispatcher.run_once() == 1
    assert await mailer.dispatcher.run_once() == 0
    assert len(recorder.to("gone@example.com")) == 1
    assert len(recorder.to("also-gone@example.com")) == 1
    code, _ = await mailer.emails("retry")  # --id or --all-failed is required
    assert code == 2


async def test_past_the_retry_horizon_a_transient_failure_fails_it(mailer: Mailer) -> None:
    mailer.recorder.reply = "421 4.7.0 Try again later, closing connection"
    email_id = await mailer.add("late@example.com")
    hours = mailer.settings.email_retry_horizon_hours
    await mailer.set(email_id, first_attempt_at=utcnow() - timedelta(hours=hours - 0.01))
    assert await mailer.dispatcher.run_once() == 1
    assert (await mailer.row(email_id)).status == EmailStatus.PENDING  # within the horizon
    await mailer.set(email_id, first_attempt_at=utcnow() - timedelta(hours=hours, seconds=1))
    await mailer.due_now(email_id)
    assert await mailer.dispatcher.run_once() == 1
    row = await mailer.row(email_id)
    assert (row.status, row.attempts) == (EmailStatus.FAILED, 2)
    assert row.last_error and "421" in row.last_error
    assert mailer.recorder.messages == []


def unreachable_database(database_url: str, tmp_path: Path) -> str:
    if dialect_of(database_url) == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'notify.db'}"
    return "postgresql+asyncpg://postgres@127.0.0.1:1/notify"


async def test_an_unreachable_database_leaves_the_email_to_the_dispatcher(
    mailer: Mailer, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    email_id = await mailer.add("carl@example.com")
    queued_at = utcnow()
    await mailer.set(email_id, status=EmailStatus.QUEUED, queued_at=queued_at)
    monkeypatch.setattr(email_service, "DB_PATIENCE_SECONDS", 2.0)  # 10 s by default
    cut_off = mailer.settings.model_copy(
        update={"database_url": unreachable_database(database_url, tmp_path)}
    )
    send_email = create_celery_app(cut_off).tasks[SEND_EMAIL]
    # The Celery job itself, as the worker runs it: it returns, it does not raise.
    assert await asyncio.to_thread(send_email, str(email_id)) == "database unavailable"
    monkeypatch.undo()
    row = await mailer.row(email_id)
    assert (row.status, row.attempts, row.queued_at) == (EmailStatus.QUEUED, 0, queued_at)
    assert mailer.recorder.attempts == []
    assert await mailer.dispatcher.run_once() == 0  # its job may yet run
    mailer.dispatcher.requeue_after = 0  # the requeue window has passed
    assert await mailer.dispatcher.run_once() == 1
    assert (await mailer.row(email_id)).status == EmailStatus.SENT
    assert len(mailer.recorder.to("carl@example.com")) == 1


class FailingWrites:
    """Makes the job's database fail its next ``count`` UPDATEs once the message is sent."""

    def __init__(self, database: Database, backend: SmtpBackend, count: int) -> None:
        self.backend, self.count, self.armed, self.failed = backend, count, False, 0
        event.listen(database.engine.sync_engine, "before_cursor_execute", self.before)

    def send(self, message: Message) -> None:
        self.backend.send(message)
        self.armed = True

    def before(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.armed and self.failed < self.count and statement.lstrip().startswith("UPDATE"):
            self.failed += 1
            raise OperationalError(statement, None, ConnectionResetError("connection lost"))


@pytest.mark.parametrize("failures", [1, 3])
async def test_a_database_error_after_the_send_is_retried_and_the_email_sent_once(
    mailer: Mailer, failures: int
) -> None:
    email_id = await mailer.add("dora@example.com")
    database = job_database(mailer.settings)
    backend = SmtpBackend(mailer.settings.email_url)
    writes = FailingWrites(database, backend, failures)
    try:
        outcome = await send_logged_email(
            email_id, mailer.settings, backend=writes, database=database
        )
    finally:
        backend.close()
        await database.dispose()
    assert (outcome, writes.failed) == ("sent", failures)
    row = await mailer.row(email_id)
    assert (row.status, row.attempts) == (EmailStatus.SENT, 1)
    assert len(mailer.recorder.to("dora@example.com")) == 1


async def test_a_database_down_longer_than_the_lease_leaves_the_email_held_not_failed(
    mailer: Mailer,
) -> None:
    email_id = await mailer.add("eve@example.com")
    settings = mailer.settings.model_copy(update={"email_sending_lease_seconds": 1.0})
    database = job_database(settings)
    backend = SmtpBackend(settings.email_url)
    writes = FailingWrites(database, backend, 1000)
    try:
        outcome = await send_logged_email(email_id, settings, backend=writes, database=database)
    finally:
        backend.close()
        await database.dispose()
    assert outcome == "sent, unrecorded"
    row = await mailer.row(email_id)
    # Never failed: once the hold's lease has passed the dispatcher queues it again (and,
    # the commit of its sending having been lost, it goes out a second time).
    assert row.status == EmailStatus.SENDING
    assert len(mailer.recorder.to("eve@example.com")) == 1
    lease = timedelta(seconds=mailer.settings.email_sending_lease_seconds)
    await mailer.set(email_id, sending_at=utcnow() - lease - timedelta(seconds=1))
    assert await mailer.dispatcher.run_once() == 1
    assert (await mailer.row(email_id)).status == EmailStatus.SENT
    # The one duplicate a lost commit can make, recognisably the same email.
    first, again = mailer.recorder.to("eve@example.com")
    assert first["Message-ID"] == again["Message-ID"] == f"<{email_id.hex}@taskflow.local>"


async def test_a_job_sends_nothing_for_an_email_held_by_another_or_not_due(
    mailer: Mailer,
) -> None:
    held = await mailer.add("held@example.com")
    await mailer.set(held, status=EmailStatus.SENDING, sending_at=utcnow())
    later = await mailer.add("later@example.com")
    await mailer.set(later, next_attempt_at=utcnow() + timedelta(minutes=1))
    done = await mailer.add("done@example.com")
    await mailer.set(done, status=EmailStatus.SENT, sent_at=utcnow())
    for email_id in (held, later, done):
        assert await send_logged_email(email_id, mailer.settings) == "skipped"
    assert await send_logged_email(uuid.uuid4(), mailer.settings) == "skipped"
    assert mailer.recorder.attempts == []
    # A hold past its lease belongs to a dead worker: a job takes it over.
    lease = timedelta(seconds=mailer.settings.email_sending_lease_seconds)
    await mailer.set(held, sending_at=utcnow() - lease - timedelta(seconds=1))
    assert await send_logged_email(held, mailer.settings) == "sent"
    assert len(mailer.recorder.to("held@example.com")) == 1


async def test_the_dispatcher_queues_due_lost_and_dead_emails_never_fresh_ones(
    mailer: Mailer,
) -> None:
    queued: list[uuid.UUID] = []

    async def enqueue(email_ids: list[uuid.UUID]) -> None:
        queued.extend(email_ids)

    dispatcher = EmailDispatcher(
        mailer.database, enqueue, Publisher("notify"), requeue_after=45, sending_lease=120
    )
    now = utcnow()
    states: dict[str, dict[str, Any]] = {
        "new": {},
        "retry-due": {"next_attempt_at": now - timedelta(seconds=1)},
        "retry-later": {"next_attempt_at": now + timedelta(seconds=30)},
        "queued-now": {"status": EmailStatus.QUEUED, "queued_at": now - timedelta(seconds=40)},
        "queued-lost": {"status": EmailStatus.QUEUED, "queued_at": now - timedelta(seconds=50)},
        "sending-now": {"status": EmailStatus.SENDING, "sending_at": now - timedelta(seconds=100)},
        "sending-dead": {"status": EmailStatus.SENDING, "sending_at": now - timedelta(seconds=130)},
        "sent": {"status": EmailStatus.SENT, "sent_at": now},
        "failed": {"status": EmailStatus.FAILED},
    }
    ids = {}
    for name, values in states.items():
        ids[name] = await mailer.add(f"{name}@example.com")
        if values:
            await mailer.set(ids[name], **values)
    assert await dispatcher.run_once() == 4
    expected = {ids[name] for name in ("new", "retry-due", "queued-lost", "sending-dead")}
    assert set(queued) == expected and len(queued) == 4
    for name in ("new", "retry-due", "queued-lost", "sending-dead"):
        row = await mailer.row(ids[name])
        assert row.status == EmailStatus.QUEUED and row.queued_at and row.queued_at >= now
    assert (await mailer.row(ids["sending-now"])).status == EmailStatus.SENDING
    assert (await mailer.row(ids["retry-later"])).status == EmailStatus.PENDING
    assert await dispatcher.run_once() == 0  # each was queued once


async def test_a_broker_that_is_down_leaves_emails_pending_for_the_next_sweep(
    mailer: Mailer,
) -> None:
    queued: list[uuid.UUID] = []
    broker_up = False

    async def enqueue(email_ids: list[uuid.UUID]) -> None:
        if not broker_up and queued:
            raise ConnectionRefusedError("Redis is away")
        queued.extend(email_ids)

    # One email a job, so the broker can go away between two of them.
    dispatcher = EmailDispatcher(mailer.database, enqueue, Publisher("notify"), job_size=1)
    ids = [await mailer.add(f"p{n}@example.com") for n in range(3)]
    assert await dispatcher.run_once() == 1  # the broker went away after the first
    statuses = [(await mailer.row(email_id)).status for email_id in ids]
    assert sorted(statuses) == [EmailStatus.PENDING, EmailStatus.PENDING, EmailStatus.QUEUED]
    assert await dispatcher.run_once() == 0  # still away: nothing lost, nothing marked
    broker_up = True
    assert await dispatcher.run_once() == 2
    assert sorted(queued) == sorted(ids)
    assert [(await mailer.row(email_id)).status for email_id in ids] == [EmailStatus.QUEUED] * 3


async def test_the_dispatcher_makes_jobs_of_at_most_job_size_and_one_email_goes_alone(
    mailer: Mailer,
) -> None:
    jobs: list[list[uuid.UUID]] = []

    async def enqueue(email_ids: list[uuid.UUID]) -> None:
        jobs.append(email_ids)

    dispatcher = EmailDispatcher(mailer.database, enqueue, Publisher("notify"), job_size=2)
    alone = await mailer.add("alone@example.com")
    assert await dispatcher.run_once() == 1
    assert jobs == [[alone]]  # not held back for company
    ids = [await mailer.add(f"j{n}@example.com") for n in range(5)]
    assert await dispatcher.run_once() == 5
    assert [len(job) for job in jobs[1:]] == [2, 2, 1]
    assert sorted(email_id for job in jobs[1:] for email_id in job) == sorted(ids)


async def test_a_batch_sends_each_email_over_one_connection_and_records_each(
    mailer: Mailer,
) -> None:
    recorder = mailer.recorder
    recorder.refuse = {"nobody@example.com": "550 5.1.1 No such user here"}
    addresses = ["a@example.com", "nobody@example.com", "b@example.com"]
    ids = [await mailer.add(to) for to in addresses]
    backend = SmtpBackend(mailer.settings.email_url)
    sender = EmailSender(mailer.settings)
    try:
        outcomes = await sender.send_many(ids, [backend], mailer.database)
        assert outcomes == ["sent", "failed", "sent"]
        # Sent or failed already: a second job for them sends nothing.
        assert await sender.send_many(ids, [backend], mailer.database) == ["skipped"] * 3
    finally:
        backend.close()
    assert [m["To"] for m in recorder.messages] == ["a@example.com", "b@example.com"]
    assert len(set(recorder.peers)) == 1  # the refusal did not cost the connection
    rows = [await mailer.row(email_id) for email_id in ids]
    assert [(r.status, r.attempts) for r in rows] == [("sent", 1), ("failed", 1), ("sent", 1)]


async def test_a_batch_goes_over_its_connections_at_once_each_email_once(mailer: Mailer) -> None:
    recorder = mailer.recorder
    addresses = [f"lane{n}@example.com" for n in range(9)]
    ids = [await mailer.add(to) for to in addresses]
    backends = [SmtpBackend(mailer.settings.email_url) for _ in range(4)]
    sender = EmailSender(mailer.settings)
    try:
        assert await sender.send_many(ids, backends, mailer.database) == ["sent"] * 9
        assert await sender.send_many(ids, backends, mailer.database) == ["skipped"] * 9
    finally:
        for backend in backends:
            backend.close()
    assert sorted(m["To"] for m in recorder.messages) == sorted(addresses)
    assert len(set(recorder.peers)) == 4  # one connection per lane, kept for its emails
    rows = [await mailer.row(email_id) for email_id in ids]
    assert {(r.status, r.attempts) for r in rows} == {("sent", 1)}


class RefusingServer:
    """A mail backend whose server refuses every connection; it notes each attempt."""

    def __init__(self, tries: list[str]) -> None:
        self.tries = tries

    def send(self, message: Message) -> None:
        self.tries.append(message["To"])
        raise ConnectionRefusedError(111, "Connection refused")


async def test_a_server_one_connection_found_down_is_not_tried_by_the_others(
    mailer: Mailer,
) -> None:
    """The job's connections share what they learn: a lane whose email was merely skipped
    (here after a slow claim) must not bring back the 'server answers' it read before
    another lane found the server down."""
    ids = [await mailer.add(f"e{n}@example.com") for n in range(4)]
    await mailer.set(ids[1], status=EmailStatus.SENT)  # sent by an earlier job: skipped
    sender = EmailSender(mailer.settings)
    real_claim = sender._claim

    async def slow_claim(connection: Any, email_id: uuid.UUID, lease: timedelta) -> Any:
        if email_id == ids[1]:
            await asyncio.sleep(0.3)  # a lock wait, a busy database
        return await real_claim(connection, email_id, lease)

    object.__setattr__(sender, "_claim", slow_claim)
    tries: list[str] = []
    lanes = [RefusingServer(tries), RefusingServer(tries)]
    outcomes = await sender.send_many(ids, lanes, mailer.database)
    assert outcomes == ["retry", "skipped", "retry", "retry"]
    assert tries == ["e0@example.com"]  # the others were recorded with its failure


async def test_a_server_that_fails_a_batch_is_not_tried_again_for_the_rest(
    mailer: Mailer,
) -> None:
    # A server that takes each connection and closes it at once, before its greeting.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[object] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                accepted.append(connection)
                connection.close()

    threading.Thread(target=accept, daemon=True).start()
    ids = [await mailer.add(f"down{n}@example.com") for n in range(3)]
    backend = SmtpBackend(f"smtp://127.0.0.1:{port}")
    sender = EmailSender(mailer.settings)
    try:
        assert await sender.send_many(ids, [backend], mailer.database) == ["retry"] * 3
    finally:
        backend.close()
        listener.close()
    assert len(accepted) == 1  # the rest were not tried against it again
    later = utcnow() + timedelta(seconds=FLOOR - 1)
    for email_id in ids:
        row = await mailer.row(email_id)
        assert (row.status, row.attempts) == (EmailStatus.PENDING, 1)
        assert row.next_attempt_at is not None and row.next_attempt_at > later
        assert row.last_error is not None and "SMTPServerDisconnected" in row.last_error
    assert sender.server_trouble.is_set()


def test_back_off_has_a_floor_a_ceiling_and_grows() -> None:
    settings = NotifySettings(email_retry_floor_seconds=10, email_retry_max_seconds=1800)
    for _ in range(200):
        delays = [retry_delay(attempts, settings) for attempts in range(0, 40)]
        assert all(10 <= delay <= 1800 for delay in delays)
        assert delays[0] == delays[1] == 10  # the first retry waits the floor
        assert 10 <= delays[2] <= 20 and 20 <= delays[3] <= 40
        assert delays[-1] >= 900  # jitter spreads retries over the ceiling's upper half


def test_only_a_5xx_refusal_of_this_email_is_permanent() -> None:
    assert is_permanent(smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user")}))
    assert not is_permanent(smtplib.SMTPRecipientsRefused({"a@x": (451, b"later")}))
    assert not is_permanent(
        smtplib.SMTPRecipientsRefused({"a@x": (550, b"no"), "b@x": (452, b"full")})
    )
    assert is_permanent(smtplib.SMTPSenderRefused(553, b"not allowed", "from@x"))
    assert not is_permanent(smtplib.SMTPSenderRefused(451, b"later", "from@x"))
    assert is_permanent(smtplib.SMTPDataError(554, b"rejected"))
    assert not is_permanent(smtplib.SMTPDataError(452, b"too many"))
    for transient in (
        smtplib.SMTPServerDisconnected("gone"),
        smtplib.SMTPAuthenticationError(535, b"bad credentials"),  # an operator mends it
        smtplib.SMTPConnectError(421, b"busy"),
        ConnectionRefusedError(),
        TimeoutError(),
        OSError("unreachable"),
    ):
        assert not is_permanent(transient)


@pytest.mark.parametrize(
    ("subject", "sender"),
    [
        ('You were assigned "Ship it"', "TaskFlow <no-reply@taskflow.local>"),
        ("Vous avez « Écrire la doc » — " + "é" * 200, "TâskFlow <no-reply@taskflow.local>"),
    ],
    ids=["ascii", "not-ascii"],
)
def test_a_message_reads_back_as_written_whatever_its_characters(subject: str, sender: str) -> None:
    """ASCII headers take the plain MIME classes, others the modern message: either way a
    reader gets the headers, both alternatives and every character back."""
    row = EmailMessage(
        dedupe_key="k",
        to_address="ann@example.com",
        subject=subject[:300],
        text_body="Hi Ann,\n“Ship it” is yours.\n" + "x" * 200 + "\n",
        html_body="<p>Hi Ann, “Ship it” is yours.</p>",
    )
    raw = bytes(mime(row, sender))
    assert max(len(line) for line in raw.split(b"\n")) <= 998
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, MimeMessage)
    assert (message["From"], message["To"]) == (sender, "ann@example.com")
    assert message["Subject"] == subject[:300]
    assert message["Message-ID"] == f"<{row.id.hex}@taskflow.local>"
    assert message["X-TaskFlow-Email-Id"] == str(row.id)
    assert message.get_content_type() == "multipart/alternative"
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and plain.get_content() == row.text_body
    assert html is not None and html.get_content().rstrip("\n") == row.html_body
