"""The real thing: a Celery worker on the machine's Redis sending to an SMTP server (aiosmtpd).

The notify app runs in-process on PostgreSQL and hands jobs to Redis; a worker
process started here sends them to an aiosmtpd server started here. Needs
Redis and PostgreSQL: skipped with the reason where they are missing, failed
when CI is set.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from taskflow_chassis.bus import create_bus
from taskflow_chassis.events import new_event
from taskflow_chassis.testing import (
    TestTokens,
    fresh_postgres_database,
    require_postgres,
    require_redis,
)
from taskflow_contracts import auth, teams, work
from taskflow_notify.app import create_app
from taskflow_notify.config import NotifySettings

from .conftest import Recorder


FLOOR = 1.0  # the retry back-off's floor, seconds
LEASE = 10.0  # how long a job holds an email it sends


@dataclass
class Stack:
    app: Any
    client: httpx.AsyncClient
    env: dict[str, str]
    tmp: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"worker-{len(self.workers)}.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "taskflow_notify.worker", "worker",
             "--pool=solo", "--without-heartbeat", "--without-gossip", "--without-mingle",
             "-l", "INFO", "-Q", self.env["NOTIFY_CELERY_QUEUE"]],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp.glob("worker-*.log"))
        )


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
        app = create_app(settings, jwks_fetcher=tokens.jwks)
        async with (
            LifespanManager(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client,
        ):
            stack = Stack(app, client, env, tmp_path)
            stack.bus = create_bus(settings.event_bus_url)  # type: ignore[attr-defined]
            await stack.bus.connect()  # type: ignore[attr-defined]
            stack.start_worker()
            try:
                yield stack
            finally:
                for worker in stack.workers:
                    if worker.poll() is None:
                        worker.send_signal(signal.SIGTERM)
                        try:
                            worker.wait(timeout=15)
                        except subprocess.TimeoutExpired:
                            worker.kill()


async def publish(stack: Stack, payload: Any, event_id: str | None = None) -> Any:
    event = new_event(payload.event_type, source="/taskflow/test", data=payload)
    if event_id:
        event = event.model_copy(update={"id": event_id})
    await stack.bus.publish(event)  # type: ignore[attr-defined]
    await stack.bus.drain()  # type: ignore[attr-defined]
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
    from taskflow_notify.worker import scan_reminders

    await asyncio.to_thread(scan_reminders.delay)

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
    assert (
        "https://taskflow.example/invitations/accept?token=abc"
        in invitation.get_body(("plain",)).get_content()
    )  # type: ignore[union-attr]
    dev_subjects = sorted(m["Subject"] for m in recorder.to("dev@example.com"))
    assert dev_subjects == sorted(
        [
            'You were assigned "Ship v2"',
            'New comment on "Ship v2"',
            f'Reminder: "Ship v2" is due {due_at.strftime("%a %d %b %Y, %H:%M UTC")}',
        ]
    )
    link = f"https://taskflow.example/tasks/{task['task_id']}"
    assert all(link in m.get_body(("plain",)).get_content() for m in recorder.to("dev@example.com"))  # type: ignore[union-attr]
    [to_lead] = recorder.to("lead@example.com")  # the task's creator hears of the comment
    assert to_lead["Subject"] == 'New comment on "Ship v2"'
    assert recorder.to("rev@example.com") == []  # never the comment's own author


async def test_duplicate_job_sends_once(stack: Stack, smtp: tuple[Recorder, int]) -> None:
    from sqlalchemy import select
    from taskflow_notify.notifications.models import EmailMessage as EmailRow
    from taskflow_notify.worker import send_email

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
        email_id = (await session.execute(select(EmailRow.id))).scalar_one()
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
    await wait_for(
        lambda: len(recorder.to("slow@example.com")) >= 1,
        stack,
        seconds=60,
        each=stack.app.state.email_dispatcher.run_once,
    )
    await asyncio.sleep(2)
    assert len(recorder.to("slow@example.com")) == 1
