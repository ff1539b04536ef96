"""The real thing: a Celery worker on the machine's Redis sending to an SMTP server (aiosmtpd).

The notify app runs in-process on PostgreSQL and hands jobs to Redis; a worker
process started here sends them to an aiosmtpd server started here. Needs
Redis and PostgreSQL: skipped with the reason where they are missing, failed
when CI is set.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select
from sqlalchemy.pool import NullPool
from sqlmodel import col
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.db import Database
from taskflow_chassis.events import new_event
from taskflow_chassis.testing import (
    TestTokens,
    app_running,
    fresh_postgres_database,
    postgres_outage,
    require_postgres,
    require_redis,
    unreachable_service,
)
from taskflow_contracts import auth, teams, work
from taskflow_notify.app import create_app
from taskflow_notify.config import NotifySettings
from taskflow_notify.email.jobs import SEND_EMAIL
from taskflow_notify.email.models import EmailMessage as EmailRow
from taskflow_notify.email.service import IDLE_PING_SECONDS, EmailTemplates
from taskflow_notify.notifications import service
from taskflow_notify.notifications.jobs import SCAN_REMINDERS

from .conftest import Recorder, memory_bus, reset_outgoing, text_of

FLOOR = 1.0  # the retry back-off's floor, seconds
LEASE = 10.0  # how long a job holds an email it sends
# A worker's start-up (Celery and notify imported, Redis joined) took over 30 s on a
# 2-core machine busy with three test processes.
WORKER_START_SECONDS = 180.0


@dataclass
class Stack:
    app: Any
    client: httpx.AsyncClient
    env: dict[str, str]
    tmp: Path
    bus: MemoryBus
    database_url: str = ""
    redis_url: str = ""
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"worker-{len(self.workers)}.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "taskflow_notify.worker:celery", "worker",
             "--pool=solo", "--without-heartbeat", "--without-gossip", "--without-mingle",
             "-l", "INFO", "-Q", self.env["NOTIFY_CELERY_QUEUE"]],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    async def worker_started(self, seconds: float = WORKER_START_SECONDS) -> None:
        """Until the last worker started consumes jobs: the tests' own waits time delivery,
        not a start-up that takes seconds on a busy machine."""
        log = self.tmp / f"worker-{len(self.workers) - 1}.log"
        await wait_for(lambda: b" ready." in log.read_bytes(), self, seconds=seconds)

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp.glob("worker-*.log"))
        )

    def full_log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.tmp.glob("worker-*.log"))
        )

    async def sweep(self) -> None:
        """The dispatcher's sweep, now; a database just back may fail it once, as it would
        fail a real sweep (the next one runs on a fresh connection)."""
        try:
            await self.app.state.email_dispatcher.run_once()
        except Exception as exc:  # the loop logs it in real life
            print("sweep failed:", exc)

    async def email_row(self, to: str) -> Any:
        database = Database(self.database_url, poolclass=NullPool)
        try:
            async with database.session() as session:
                query = select(EmailRow).where(col(EmailRow.to_address) == to)
                return (await session.execute(query)).scalar_one_or_none()
        finally:
            await database.dispose()


@pytest.fixture
async def stack(smtp: tuple[Recorder, int], tmp_path: Path) -> AsyncIterator[Stack]:
    redis_url = require_redis()
    require_postgres()
    _, port = smtp
    async with fresh_postgres_database("taskflow_notify_celery") as database_url:
        env = {
            **os.environ,
            "NOTIFY_DATABASE_URL": database_url,
            "NOTIFY_CELERY_BROKER_URL": redis_url,
            "NOTIFY_CELERY_QUEUE": f"notify-test-{uuid.uuid4().hex[:8]}",
            "NOTIFY_CELERY_VISIBILITY_TIMEOUT": "3",
            # Seconds, not minutes: a retry, a lost job and a dead worker's hold come back
            # while the test waits.
            "NOTIFY_EMAIL_RETRY_FLOOR_SECONDS": str(FLOOR),
            "NOTIFY_EMAIL_REQUEUE_SECONDS": "2",
            "NOTIFY_EMAIL_SENDING_LEASE_SECONDS": str(LEASE),
            "NOTIFY_EMAIL_URL": f"smtp://127.0.0.1:{port}",
            "NOTIFY_PUBLIC_URL": "https://taskflow.example",
            "NOTIFY_DATA_DIR": str(tmp_path),
        }
        settings = NotifySettings(
            data_dir=tmp_path,
            database_url=database_url,
            event_bus_url=f"memory://celery-{uuid.uuid4().hex[:8]}",
            public_url="https://taskflow.example",
            email_url=env["NOTIFY_EMAIL_URL"],
            celery_broker_url=redis_url,
            celery_queue=env["NOTIFY_CELERY_QUEUE"],
            celery_visibility_timeout=3,
            email_retry_floor_seconds=FLOOR,
            email_requeue_seconds=2,
            email_sending_lease_seconds=LEASE,
            reminder_timer=False,
        )
        tokens = TestTokens()
        app = create_app(settings, jwks_fetcher=tokens.jwks, teams_transport=unreachable_service())
        async with (
            app_running(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client,
        ):
            bus = memory_bus(settings.event_bus_url)
            stack = Stack(app, client, env, tmp_path, bus, database_url, redis_url)
            await stack.bus.connect()
            stack.start_worker()
            try:
                await stack.worker_started()
                yield stack
            finally:
                for worker in stack.workers:
                    if worker.poll() is None:
                        worker.send_signal(signal.SIGTERM)
                        try:
                            worker.wait(timeout=15)
                        except subprocess.TimeoutExpired:
                            worker.kill()


async def publish(
    stack: Stack, payload: Any, event_id: str | None = None, *, dispatch: bool = True
) -> Any:
    event = new_event(payload.event_type, source="/taskflow/test", data=payload)
    if event_id:
        event = event.model_copy(update={"id": event_id})
    await stack.bus.publish(event)
    await stack.bus.drain()
    if dispatch:
        await stack.app.state.email_dispatcher.run_once()
    return event


async def wait_for(condition: Any, stack: Stack, seconds: float = 30, each: Any = None) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out; worker logs:\n" + stack.logs())
        if each is not None:
            await each()  # e.g. the email dispatcher's sweep, without waiting for its timer
        await asyncio.sleep(0.1)


async def test_each_notification_arrives_once_with_recipient_subject_and_link(
    stack: Stack, smtp: tuple[Recorder, int]
) -> None:
    recorder, _ = smtp
    team_id = uuid.uuid4()
    people = {}
    for name in ("lead", "dev", "rev"):
        user_id = uuid.uuid4()
        people[name] = user_id
        await publish(
            stack, auth.UserRegistered(user_id=user_id, username=name, email=f"{name}@example.com")
        )
        await publish(
            stack,
            teams.MemberJoined(
                team_id=team_id,
                user_id=user_id,
                role_id=uuid.uuid4(),
                role_name="Developer",
                permissions=[],
            ),
        )
    invite = teams.InvitationCreated(
        invitation_id=uuid.uuid4(),
        team_id=team_id,
        team_name="Platform",
        email="guest@example.com",
        role_name="Viewer",
        invited_by=people["lead"],
        accept_url="https://taskflow.example/invitations/accept?token=abc",
        expires_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    invitation_event = await publish(stack, invite)
    await publish(stack, invite, event_id=invitation_event.id)  # the broker delivered it twice
    task = {"task_id": uuid.uuid4(), "project_id": uuid.uuid4(), "team_id": team_id}
    due_at = datetime.now(UTC) + timedelta(hours=3)
    await publish(
        stack,
        work.TaskCreated(
            **task,
            title="Ship v2",
            status="todo",
            priority="high",
            due_at=due_at,
            assignee_ids=[people["dev"]],
            created_by=people["lead"],
        ),
    )
    await publish(
        stack,
        work.TaskAssigned(
            **task,
            title="Ship v2",
            due_at=due_at,
            assignee_id=people["dev"],
            assigned_by=people["lead"],
        ),
    )
    await publish(
        stack,
        work.CommentCreated(
            comment_id=uuid.uuid4(), **task, author_id=people["rev"], excerpt="Ready for review?"
        ),
    )
    # The reminder scan runs as beat's job would: on the worker, in its own process.
    await asyncio.to_thread(stack.app.state.celery.tasks[SCAN_REMINDERS].delay)

    def arrived() -> bool:
        return (
            len(recorder.to("guest@example.com")) >= 1
            and len(recorder.to("dev@example.com")) >= 3
            and len(recorder.to("lead@example.com")) >= 1
        )

    await wait_for(arrived, stack, each=stack.app.state.email_dispatcher.run_once)
    await asyncio.sleep(1.5)  # room for a duplicate to show up
    [invitation] = recorder.to("guest@example.com")
    assert invitation["Subject"] == "You are invited to join Platform on TaskFlow"
    assert "https://taskflow.example/invitations/accept?token=abc" in text_of(invitation)
    dev_subjects = sorted(m["Subject"] for m in recorder.to("dev@example.com"))
    assert dev_subjects == sorted(
        [
            'You were assigned "Ship v2"',
            'New comment on "Ship v2"',
            f'Reminder: "Ship v2" is due {due_at.strftime("%a %d %b %Y, %H:%M UTC")}',
        ]
    )
    link = f"https://taskflow.example/tasks/{task['task_id']}"
    assert all(link in text_of(m) for m in recorder.to("dev@example.com"))
    [to_lead] = recorder.to("lead@example.com")  # the task's creator hears of the comment
    assert to_lead["Subject"] == 'New comment on "Ship v2"'
    assert recorder.to("rev@example.com") == []  # never the comment's own author


async def test_duplicate_job_sends_once(stack: Stack, smtp: tuple[Recorder, int]) -> None:
    send_email = stack.app.state.celery.tasks[SEND_EMAIL]
    recorder, _ = smtp
    user_id = uuid.uuid4()
    await publish(
        stack, auth.UserRegistered(user_id=user_id, username="ann", email="ann@example.com")
    )
    await publish(
        stack,
        auth.PasswordResetRequested(
            user_id=user_id,
            email="ann@example.com",
            reset_url="https://taskflow.example/reset-password?token=r",
            expires_at=datetime(2027, 1, 1, tzinfo=UTC),
        ),
    )
    await wait_for(lambda: len(recorder.to("ann@example.com")) == 1, stack)
    async with stack.app.state.database.session() as session:
        email_id = (await session.execute(select(col(EmailRow.id)))).scalar_one()
    for _ in range(2):  # the same job again, twice
        await asyncio.to_thread(send_email.delay, str(email_id))
    await asyncio.sleep(3)
    assert len(recorder.to("ann@example.com")) == 1


async def test_worker_killed_during_send_email_still_sends_exactly_once(
    stack: Stack, smtp: tuple[Recorder, int]
) -> None:
    recorder, _ = smtp
    recorder.hold_for = "slow@example.com"
    user_id = uuid.uuid4()
    await publish(
        stack, auth.UserRegistered(user_id=user_id, username="slow", email="slow@example.com")
    )
    await publish(
        stack,
        auth.PasswordResetRequested(
            user_id=user_id,
            email="slow@example.com",
            reset_url="https://taskflow.example/reset-password?token=s",
            expires_at=datetime(2027, 1, 1, tzinfo=UTC),
        ),
    )
    await wait_for(recorder.held.is_set, stack)
    first = stack.workers[0]
    first.send_signal(signal.SIGKILL)  # mid-send: the SMTP conversation is cut before DATA
    first.wait(timeout=10)
    recorder.release.set()
    # The job comes back once its visibility timeout has passed, and finds the email held;
    # once the hold's lease has passed, the dispatcher queues it again.
    stack.start_worker()
    await stack.worker_started()
    await wait_for(
        lambda: len(recorder.to("slow@example.com")) >= 1,
        stack,
        seconds=60,
        each=stack.app.state.email_dispatcher.run_once,
    )
    await asyncio.sleep(2)
    assert len(recorder.to("slow@example.com")) == 1


async def reset_email(stack: Stack, to: str, *, dispatch: bool = True) -> None:
    """A password reset for ``to``: one email, written by notify's handler (and, unless
    ``dispatch`` is false, handed to Celery at once)."""
    user_id = uuid.uuid4()
    name = to.split("@")[0]
    await publish(
        stack, auth.UserRegistered(user_id=user_id, username=name, email=to), dispatch=dispatch
    )
    reset = auth.PasswordResetRequested(
        user_id=user_id,
        email=to,
        reset_url=f"https://taskflow.example/reset-password?token={name}",
        expires_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    await publish(stack, reset, dispatch=dispatch)


async def test_an_smtp_outage_is_retried_no_faster_than_the_floor_and_sent_once(
    stack: Stack, smtp: tuple[Recorder, int]
) -> None:
    recorder, _ = smtp
    recorder.reply = "451 4.3.0 Mail server temporarily unavailable"
    to = "flaky@example.com"
    await reset_email(stack, to)
    # The outage lasts 4 s from the first attempt (a busy machine may start the job late).
    await wait_for(lambda: bool(recorder.tries(to)), stack, seconds=30, each=stack.sweep)
    outage_ends = recorder.tries(to)[0] + 4
    await wait_for(lambda: time.monotonic() > outage_ends, stack, each=stack.sweep)
    refused = len(recorder.tries(to))
    recorder.reply = None  # the server is back
    await wait_for(lambda: len(recorder.to(to)) == 1, stack, seconds=30, each=stack.sweep)
    settle = time.monotonic() + 2  # room for a duplicate to show up
    await wait_for(lambda: time.monotonic() > settle, stack, each=stack.sweep)
    tries = recorder.tries(to)
    assert len(recorder.to(to)) == 1
    # Back-off 1 s, then 1-2 s, 2-4 s: 3 or 4 refusals in 4 s, never a storm.
    assert 2 <= refused <= 4 and len(tries) == refused + 1, tries
    gaps = [later - earlier for earlier, later in itertools.pairwise(tries)]
    assert all(gap >= FLOOR for gap in gaps), gaps
    row = await stack.email_row(to)
    assert (row.status, row.attempts, row.last_error) == ("sent", len(tries), None)
    assert "Retry in" not in stack.full_log()  # no Celery retry, no countdown


async def test_a_database_outage_after_the_server_accepted_neither_fails_nor_resends(
    stack: Stack, smtp: tuple[Recorder, int]
) -> None:
    recorder, _ = smtp
    to = "held@example.com"
    recorder.hold_for = to
    await reset_email(stack, to)
    await wait_for(recorder.held.is_set, stack)
    async with postgres_outage(stack.database_url):
        recorder.release.set()  # the server accepts while the database is gone
        await wait_for(lambda: len(recorder.to(to)) == 1, stack)
        await asyncio.sleep(3)  # the worker cannot record it; it keeps trying
    await wait_for(lambda: "sent email" in stack.full_log(), stack, seconds=20)
    settle = time.monotonic() + 2
    await wait_for(lambda: time.monotonic() > settle, stack, each=stack.sweep)
    row = await stack.email_row(to)
    assert (row.status, row.attempts) == ("sent", 1)
    assert len(recorder.to(to)) == 1
    assert stack.workers[0].poll() is None, stack.logs()  # the worker lives
    assert "Unrecoverable" not in stack.full_log()


async def test_the_worker_survives_an_unreachable_database_and_replaces_stale_connections(
    stack: Stack, smtp: tuple[Recorder, int]
) -> None:
    send_email = stack.app.state.celery.tasks[SEND_EMAIL]
    recorder, _ = smtp
    await reset_email(stack, "first@example.com")
    await wait_for(lambda: len(recorder.to("first@example.com")) == 1, stack)
    await stack.app.state.email_dispatcher.stop()  # this test makes the next jobs itself
    await reset_email(stack, "second@example.com", dispatch=False)
    row = await stack.email_row("second@example.com")
    assert row.status == "pending"
    async with postgres_outage(stack.database_url):
        await asyncio.to_thread(send_email.delay, str(row.id))
        await wait_for(lambda: "'database unavailable'" in stack.full_log(), stack)
        assert stack.workers[0].poll() is None, stack.logs()
        back = datetime.now(UTC)  # the database is still away: nothing can commit until after
    row = await stack.email_row("second@example.com")
    # Retryable, untouched by the outage. A copy of the job may claim it the moment the
    # database is back (this test's Redis hands an unacked job out again after 3 s, and
    # the job waited out the outage longer): a claim made after the outage, never before.
    untouched = (row.status, row.attempts) == ("pending", 0)
    claimed_after = row.attempts == 1 and row.sending_at is not None and row.sending_at >= back
    assert untouched or claimed_after, (row.status, row.attempts, row.sending_at, back)
    await wait_for(lambda: len(recorder.to("second@example.com")) == 1, stack, each=stack.sweep)

    # A database restart cuts the worker's connections while it is idle: the next job
    # finds its connection stale, and replaces it before use.
    async with postgres_outage(stack.database_url):
        pass
    # This process's pool lost its connections too. Its loops would retry a pass that met
    # one (a ping can pass just before the server's cut lands); this test calls them itself.
    await stack.app.state.database.engine.dispose()
    await asyncio.sleep(IDLE_PING_SECONDS + 0.5)
    before = len(stack.full_log())
    await reset_email(stack, "third@example.com")
    await wait_for(lambda: len(recorder.to("third@example.com")) == 1, stack, each=stack.sweep)
    await asyncio.sleep(0.5)
    after = stack.full_log()[before:]
    assert "sent email" in after and "database error" not in after, after
    assert stack.workers[0].poll() is None
    assert [len(recorder.to(f"{n}@example.com")) for n in ("first", "second", "third")] == [1] * 3


async def test_jobs_lost_with_redis_are_queued_again_soon_after_it_returns(
    stack: Stack, smtp: tuple[Recorder, int]
) -> None:
    recorder, _ = smtp
    worker = stack.workers[0]
    worker.send_signal(signal.SIGTERM)  # no worker takes the job while Redis has it
    worker.wait(timeout=15)
    to = "lost@example.com"
    await reset_email(stack, to)
    assert (await stack.email_row(to)).status == "queued"
    client = redis.Redis.from_url(stack.redis_url)
    try:
        assert client.delete(stack.env["NOTIFY_CELERY_QUEUE"]) == 1  # Redis lost its data
    finally:
        client.close()
    stack.start_worker()
    # Timed from the worker's start-up done: on a busy machine that alone took seconds.
    await stack.worker_started()
    back = time.monotonic()
    await wait_for(lambda: len(recorder.to(to)) == 1, stack, each=stack.sweep)
    # Within the requeue window (2 s here, 45 s by default) plus a sweep.
    assert time.monotonic() - back < 10
    settle = time.monotonic() + 2
    await wait_for(lambda: time.monotonic() > settle, stack, each=stack.sweep)
    assert len(recorder.to(to)) == 1


async def one_job_of(stack: Stack, addresses: list[str]) -> None:
    """An email to each address, written while the dispatcher sleeps, then one sweep: a
    single ``send_emails`` job carries them all (fewer than the job size)."""
    await stack.app.state.email_dispatcher.stop()  # this test makes the job itself
    async with stack.app.state.database.session() as session:
        for to in addresses:
            await service.deliver(session, EmailTemplates(), reset_outgoing(to))
        await session.commit()
    assert await stack.app.state.email_dispatcher.run_once() == len(addresses)


async def email_rows(stack: Stack) -> dict[str, tuple[str, int]]:
    database = Database(stack.database_url, poolclass=NullPool)
    try:
        async with database.session() as session:
            rows = (await session.execute(select(EmailRow))).scalars().all()
            return {row.to_address: (row.status, row.attempts) for row in rows}
    finally:
        await database.dispose()


def batch(prefix: str, count: int = 20) -> list[str]:
    return [f"{prefix}{n:02d}@example.com" for n in range(count)]


async def test_a_job_of_20_emails_sends_them_over_its_connections_each_once(
    stack: Stack, smtp: tuple[Recorder, int]
) -> None:
    recorder, _ = smtp
    addresses = batch("one")
    await one_job_of(stack, addresses)
    await wait_for(lambda: len(recorder.messages) >= 20, stack)
    await asyncio.sleep(1)  # room for a duplicate to show up
    assert sorted(m["To"] for m in recorder.messages) == addresses
    # NOTIFY_EMAIL_CONNECTIONS (4) at once, each kept for its share of the job.
    assert len(set(recorder.peers)) == 4
    assert await email_rows(stack) == dict.fromkeys(addresses, ("sent", 1))


async def test_a_server_dropping_the_connection_mid_job_still_gets_each_email_once(
    stack: Stack, smtp: tuple[Recorder, int]
) -> None:
    recorder, _ = smtp
    recorder.drop_after = 5  # the server hangs up after every fifth message
    addresses = batch("drop")
    await one_job_of(stack, addresses)
    await wait_for(lambda: len(recorder.messages) >= 20, stack)
    await asyncio.sleep(1)
    assert sorted(m["To"] for m in recorder.messages) == addresses
    assert len(set(recorder.peers)) == 4  # one new connection after each drop
    # Reconnected within the attempt: none was counted as a failed one.
    assert await email_rows(stack) == dict.fromkeys(addresses, ("sent", 1))


async def test_a_recipient_refused_for_good_fails_only_its_email(
    stack: Stack, smtp: tuple[Recorder, int]
) -> None:
    recorder, _ = smtp
    refused = "nobody@example.com"
    recorder.refuse = {refused: "550 5.1.1 No such user here"}
    addresses = batch("ref", 10)
    await one_job_of(stack, [*addresses[:4], refused, *addresses[4:]])
    await wait_for(lambda: len(recorder.messages) >= 10, stack)
    await asyncio.sleep(1)
    assert sorted(m["To"] for m in recorder.messages) == addresses
    # NOTIFY_EMAIL_CONNECTIONS (4) at once, each kept for its share of the job.
    assert len(set(recorder.peers)) == 4
    assert await email_rows(stack) == {
        **dict.fromkeys(addresses, ("sent", 1)),
        refused: ("failed", 1),
    }


async def test_a_worker_killed_mid_job_leaves_each_email_sent_exactly_once(
    stack: Stack, smtp: tuple[Recorder, int]
) -> None:
    recorder, _ = smtp
    addresses = batch("kill")
    recorder.hold_for = addresses[7]  # the eighth is in hand when the worker dies
    await one_job_of(stack, addresses)
    await wait_for(recorder.held.is_set, stack)
    # The job's four connections: the eighth's (emails 3, 7, 11, ...) waits on the server,
    # the other three send all theirs. The kill comes once those are recorded, so the one
    # in hand is the only email in flight (an email the server took and the worker had not
    # yet recorded is the README's one duplicate, which this test is not about).
    done = [a for n, a in enumerate(addresses) if n % 4 != 3 or n < 7]
    deadline = time.monotonic() + 30
    while {(await email_rows(stack))[a][0] for a in done} != {"sent"}:
        assert time.monotonic() < deadline, "the other connections never finished"
        await asyncio.sleep(0.1)
    first = stack.workers[0]
    first.send_signal(signal.SIGKILL)  # mid-job: one mid-send, four still to go
    first.wait(timeout=10)
    recorder.release.set()
    sent_before = [m["To"] for m in recorder.messages]
    assert sorted(sent_before) == sorted(done)  # the one in hand died undelivered
    # The rest are taken over: the job comes back after its visibility timeout, the
    # dispatcher queues the untouched ones again and, once its lease has passed, the held one.
    stack.start_worker()
    await stack.worker_started()
    await wait_for(lambda: len(recorder.messages) >= 20, stack, seconds=60, each=stack.sweep)
    settle = time.monotonic() + 2  # room for a duplicate to show up
    await wait_for(lambda: time.monotonic() > settle, stack, each=stack.sweep)
    assert sorted(m["To"] for m in recorder.messages) == addresses
    rows = await email_rows(stack)
    assert {status for status, _ in rows.values()} == {"sent"}
    assert rows[addresses[7]] == ("sent", 2)  # its first attempt died with the worker
