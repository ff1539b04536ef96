"""Celery: the ``send_email`` job and the reminder scan that beat schedules.

Run a worker with ``celery -A taskflow_notify.worker worker`` and exactly one
``celery -A taskflow_notify.worker beat``. Without ``NOTIFY_CELERY_BROKER_URL``
Celery runs eagerly in the calling process (the embedded runtime).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid

from celery import Celery
from taskflow_chassis.db import Database

from taskflow_notify.config import NotifySettings, get_settings
from taskflow_notify.email.backends import EmailBackend, create_backend
from taskflow_notify.email.sending import job_database, send_logged_email

celery_app = Celery("taskflow_notify")
logger = logging.getLogger("taskflow.notify.worker")


def configure(settings: NotifySettings) -> Celery:
    eager = not settings.celery_broker_url
    broker_url = settings.celery_broker_url or "memory://"
    if celery_app.conf.broker_url != broker_url:
        # Configured before for another broker (another app in this process, as tests
        # build several): its pooled connections and producers must not be reused.
        _forget_connections()
    celery_app.conf.update(
        broker_url=broker_url,
        task_always_eager=eager,
        task_eager_propagates=False,
        # A job is acknowledged only when it finished; a worker that dies mid-job
        # leaves it to be delivered again (after the visibility timeout).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={
            "visibility_timeout": settings.celery_visibility_timeout,
            # Look for jobs of dead workers a few times per timeout, not every 100 s.
            "unacked_restore_interval": max(1, settings.celery_visibility_timeout // 3),
            "unacked_restore_throttle": 1,
        },
        broker_connection_retry_on_startup=True,
        task_ignore_result=True,
        task_default_queue=settings.celery_queue,
        beat_schedule={
            "scan-reminders": {
                "task": "taskflow_notify.scan_reminders",
                "schedule": settings.reminder_scan_seconds,
            }
        },
    )
    celery_app.conf.taskflow_settings = settings
    return celery_app


def _forget_connections() -> None:
    # Only forgotten, not closed: kombu keeps one pool per broker URL for the whole process,
    # and another app configured for the old broker again would be handed it closed.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def warm_up_producer() -> None:
    """Load the broker's client and open a producer connection now: done lazily, it cost
    the first email of each API worker seconds of imports. A broker still down is no
    reason not to start; the first job retries the connection as usual."""
    try:
        with celery_app.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
    except Exception as exc:  # any broker failure: the first job retries it
        logger.warning("Celery broker not reachable at start-up: %s", exc)


def current_settings() -> NotifySettings:
    settings: NotifySettings = celery_app.conf.taskflow_settings
    return settings


@celery_app.task(name="taskflow_notify.send_email", acks_late=True, reject_on_worker_lost=True)
def send_email(email_id: str) -> str:
    """Send one email unless it is sent, held by another job, or not due; never raises.

    No Celery retry, no countdown: a later attempt is written in the email's row and the
    dispatcher queues it when due, so no job waits in Redis longer than the visibility
    timeout. Whatever fails here (SMTP, the database) is recorded or left for the
    dispatcher; the worker carries on.
    """
    try:
        settings = current_settings()
        jobs = _job_resources()
        database_url, email_url = settings.resolved_database_url(), settings.resolved_email_url()
        if database_url not in jobs.databases:
            jobs.databases[database_url] = job_database(settings)
        if email_url not in jobs.backends:
            jobs.backends[email_url] = create_backend(email_url)
        return jobs.runner.run(
            send_logged_email(
                uuid.UUID(email_id),
                settings,
                backend=jobs.backends[email_url],
                database=jobs.databases[database_url],
            )
        )
    except Exception:
        # A bug, most likely: the email's row still says what to do, the dispatcher does it.
        logger.exception("send_email %s failed; the dispatcher will queue it again", email_id)
        return "error"


class _JobResources(threading.local):
    """One event loop per job thread, kept from job to job, so the database pool and
    the mail backend (its TLS context) are made once, not per email."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.runner = asyncio.Runner()
        self.databases: dict[str, Database] = {}
        self.backends: dict[str, EmailBackend] = {}


_jobs = _JobResources()


def _job_resources() -> _JobResources:
    global _jobs  # a forked child must not use its parent's connections
    if _jobs.pid != os.getpid():
        _jobs = _JobResources()
    return _jobs


@celery_app.task(name="taskflow_notify.scan_reminders", acks_late=True)
def scan_reminders() -> int:
    from taskflow_notify.notifications.scheduled import scan_once

    return asyncio.run(scan_once(current_settings()))


configure(get_settings())
