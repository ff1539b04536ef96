"""Email alone: N emails from notify's email log through the dispatcher, Redis and a Celery
worker into an SMTP server (aiosmtpd), timed and costed.

    uv run --frozen python bench/email_micro.py --emails 2000 [--job-size 50] [--rate 100]

A fresh PostgreSQL database holds notify's tables (the notify app runs in this process,
its dispatcher queues ``send_emails`` jobs on a queue of its own in Redis); one Celery
worker (``--pool=solo``) started here sends them to an aiosmtpd server in this process.
Without ``--rate`` the N emails are written first (not measured) and the dispatcher then
finds them all due, a backlog; with ``--rate`` they are written one a transaction at that
rate while the dispatcher runs as it does in the API, woken by each commit. A warm-up
batch goes first. It prints emails per second (first due to last received) and the CPU
milliseconds per email of the worker process, and of this process (the dispatcher, the
writes and the SMTP server). ``--job-size 1`` makes one job per email, as before batching.
Needs the local PostgreSQL and Redis (``TEST_POSTGRES_URL``, ``TEST_REDIS_URL``), and
removes its database and queue.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis
from aiosmtpd.controller import Controller
from asgi_lifespan import LifespanManager
from taskflow_chassis.ports import free_port
from taskflow_chassis.testing import fresh_postgres_database, require_redis
from taskflow_notify.app import create_app
from taskflow_notify.config import NotifySettings
from taskflow_notify.email.scheduled import EmailDispatcher
from taskflow_notify.email.service import EmailTemplates, OutgoingEmail, write_email
from taskflow_notify.notifications.models import Kind

TICKS = os.sysconf("SC_CLK_TCK")


class Sink:
    """Counts the messages it accepts."""

    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received += 1
        return "250 OK"


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_worker(env: dict[str, str], queue: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen(  # noqa: S603 - this interpreter, our own arguments
            [sys.executable, "-m", "celery", "-A", "taskflow_notify.worker:celery", "worker",
             "--pool=solo", "--without-heartbeat", "--without-gossip", "--without-mingle",
             "-l", "WARNING", "-Q", queue],
            env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip


async def write(app: Any, count: int, rate: float | None) -> None:
    """``count`` password-reset emails (the email rows alone, as notify's handlers write
    them): one transaction for all, or one each at ``rate``."""
    templates = EmailTemplates()

    async def one(session: Any) -> None:
        key = uuid.uuid4().hex
        context = {"name": "Ann", "reset_url": f"https://taskflow.example/r?t={key}"}
        email = OutgoingEmail(
            template=Kind.PASSWORD_RESET,
            to=f"bench-{key[:8]}@example.com",
            dedupe_key=f"bench:{key}",
            context={**context, "expires_at": ""},
        )
        await write_email(session, templates, email)

    if rate is None:
        async with app.state.database.session() as session:
            for _ in range(count):
                await one(session)
            await session.commit()
        return
    started = time.perf_counter()
    for n in range(count):
        async with app.state.database.session() as session:
            await one(session)
            await session.commit()
        pause = started + (n + 1) / rate - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)


async def delivered(sink: Sink, total: int, dispatcher: EmailDispatcher | None) -> None:
    deadline = time.monotonic() + 600
    while sink.received < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {sink.received} of {total} emails arrived in 10 minutes")
        if dispatcher is not None:
            await dispatcher.run_once()  # the backlog: the sweep, without waiting for its timer
        await asyncio.sleep(0.02)


async def run(emails: int, job_size: int, rate: float | None) -> None:
    redis_url = require_redis()
    sink, port = Sink(), free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=port)
    smtp.start()
    queue = f"bench-email-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="email-micro-") as tmp_dir:
        tmp = Path(tmp_dir)
        wall, cpu, worker_cpu = await _measure(
            emails, job_size, rate, sink, port, queue, redis_url, tmp
        )
    smtp.stop()
    mode = f"at {rate:g}/s" if rate is not None else "as a backlog"
    print(
        f"{emails} emails {mode}, jobs of up to {job_size}: {emails / wall:7.0f} emails/s; "
        f"CPU per email: worker {worker_cpu * 1000 / emails:6.3f} ms, "
        f"notify (dispatcher, writes, SMTP server) {cpu * 1000 / emails:6.3f} ms"
    )


async def _measure(
    emails: int,
    job_size: int,
    rate: float | None,
    sink: Sink,
    port: int,
    queue: str,
    redis_url: str,
    tmp: Path,
) -> tuple[float, float, float]:
    """Wall seconds, this process's CPU seconds and the worker's, for the ``emails``."""
    async with fresh_postgres_database("taskflow_bench_email") as database_url:
        env = {
            **os.environ,
            "NOTIFY_DATABASE_URL": database_url,
            "NOTIFY_CELERY_BROKER_URL": redis_url,
            "NOTIFY_CELERY_QUEUE": queue,
            "NOTIFY_EMAIL_URL": f"smtp://127.0.0.1:{port}",
            "NOTIFY_DATA_DIR": str(tmp),
        }
        settings = NotifySettings(
            data_dir=tmp,
            database_url=database_url,
            event_bus_url=f"memory://bench-email-{queue}",
            email_url=env["NOTIFY_EMAIL_URL"],
            celery_broker_url=redis_url,
            celery_queue=queue,
            email_job_size=job_size,
            reminder_timer=False,
        )
        app = create_app(settings)
        worker = start_worker(env, queue, tmp / "worker.log")
        try:
            async with LifespanManager(app):
                warm_up = 20
                await write(app, warm_up, None)  # the dispatcher, awake, queues them
                await delivered(sink, warm_up, app.state.email_dispatcher)
                dispatcher: EmailDispatcher | None = None
                if rate is None:
                    await app.state.email_dispatcher.stop()  # the backlog waits unseen
                    await write(app, emails, None)
                    dispatcher = app.state.email_dispatcher
                wall, cpu = time.perf_counter(), time.process_time()
                worker_cpu = cpu_seconds(worker.pid)
                if rate is not None:
                    await write(app, emails, rate)
                await delivered(sink, warm_up + emails, dispatcher)
                wall = time.perf_counter() - wall
                cpu = time.process_time() - cpu
                worker_cpu = cpu_seconds(worker.pid) - worker_cpu
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
            client = redis.Redis.from_url(redis_url)
            client.delete(queue)
            client.close()
    return wall, cpu, worker_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=2000)
    parser.add_argument("--job-size", type=int, default=50, help="emails per send_emails job")
    parser.add_argument("--rate", type=float, default=None, help="emails written per second")
    args = parser.parse_args()
    asyncio.run(run(args.emails, args.job_size, args.rate))


if __name__ == "__main__":
    main()
