"""Celery: the ``send_email`` job and the reminder scan that beat schedules.

Run a worker with ``celery -A taskflow_notify.worker worker`` and exactly one
``celery -A taskflow_notify.worker beat``. Without ``NOTIFY_CELERY_BROKER_URL``
Celery runs eagerly in the calling process (the embedded runtime).
"""

from __future__ import annotations

import asyncio
import smtplib
import uuid
from typing import Any

from celery import Celery, Task

from taskflow_notify.config import NotifySettings, get_settings
from taskflow_notify.email.sending import EmailInFlight, mark_failed, send_logged_email

celery_app = Celery("taskflow_notify")


def configure(settings: NotifySettings) -> Celery:
    eager = not settings.celery_broker_url
    celery_app.conf.update(
        broker_url=settings.celery_broker_url or "memory://",
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
    if "taskflow_notify.send_email" in celery_app.tasks:
        celery_app.tasks["taskflow_notify.send_email"].max_retries = settings.email_max_retries
    return celery_app


def current_settings() -> NotifySettings:
    settings: NotifySettings = celery_app.conf.taskflow_settings
    return settings


class EmailTask(Task):  # type: ignore[misc]
    """Marks the email failed once Celery gives up retrying it."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        asyncio.run(
            mark_failed(uuid.UUID(args[0]), current_settings(), f"{type(exc).__name__}: {exc}")
        )


@celery_app.task(
    name="taskflow_notify.send_email",
    base=EmailTask,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(smtplib.SMTPException, OSError, EmailInFlight),
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def send_email(email_id: str) -> str:
    return asyncio.run(send_logged_email(uuid.UUID(email_id), current_settings()))


@celery_app.task(name="taskflow_notify.scan_reminders", acks_late=True)
def scan_reminders() -> int:
    from taskflow_notify.notifications.scheduled import scan_once

    return asyncio.run(scan_once(current_settings()))


configure(get_settings())
