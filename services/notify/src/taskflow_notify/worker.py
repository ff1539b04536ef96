"""The Celery worker's and beat's composition root: notify's jobs and their Celery app.

    celery -A taskflow_notify.worker:celery worker
    celery -A taskflow_notify.worker:celery beat      (exactly one)

It imports what the jobs need and not the API (FastAPI, its routes, the event handlers,
the migrations): a worker killed mid-job is back sending seconds sooner. The API builds
the same app with ``create_celery_app`` to queue the jobs (``app.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery import Celery

from taskflow_notify.config import NotifySettings
from taskflow_notify.email.jobs import SEND_EMAIL, SEND_EMAILS, EmailJobs
from taskflow_notify.notifications.jobs import SCAN_REMINDERS, ReminderJobs

if TYPE_CHECKING:
    from taskflow_notify.deps import NotifyDeps


def create_celery_app(
    settings: NotifySettings | None = None, deps: NotifyDeps | None = None
) -> Celery:
    """The Celery app with notify's jobs, configured from ``settings`` (else the environment);
    ``deps``: the API's, which its reminder scans share when Celery runs them eagerly."""
    settings = settings or NotifySettings()
    celery = Celery("taskflow_notify")
    celery.conf.update(_celery_config(settings))
    email_jobs = EmailJobs(settings)
    reminder_jobs = ReminderJobs(settings, deps)

    # Functions, not the bound methods: Celery checks a job's arguments against the
    # signature it reads, and would count ``self`` among them.
    def send_email(email_id: str) -> str:
        return email_jobs.send_email(email_id)

    def send_emails(email_ids: list[str]) -> list[str]:
        return email_jobs.send_emails(email_ids)

    def scan_reminders() -> int:
        return reminder_jobs.scan_reminders()

    # Not shared: a shared task would be added to every Celery app made after this one
    # (Celery keeps a list for the whole process), with this app's settings.
    jobs = {"shared": False, "acks_late": True}
    celery.task(name=SEND_EMAIL, reject_on_worker_lost=True, **jobs)(send_email)
    celery.task(name=SEND_EMAILS, reject_on_worker_lost=True, **jobs)(send_emails)
    celery.task(name=SCAN_REMINDERS, **jobs)(scan_reminders)
    return celery


def _celery_config(settings: NotifySettings) -> dict[str, Any]:
    return {
        "broker_url": settings.celery_broker_url or "memory://",
        "task_always_eager": not settings.celery_broker_url,
        "task_eager_propagates": False,
        # A job is acknowledged only when it finished; a worker that dies mid-job
        # leaves it to be delivered again (after the visibility timeout).
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {
            "visibility_timeout": settings.celery_visibility_timeout,
            # Look for jobs of dead workers a few times per timeout, not every 100 s.
            "unacked_restore_interval": max(1, settings.celery_visibility_timeout // 3),
            "unacked_restore_throttle": 1,
        },
        "broker_connection_retry_on_startup": True,
        "task_ignore_result": True,
        "task_default_queue": settings.celery_queue,
        "beat_schedule": {
            "scan-reminders": {"task": SCAN_REMINDERS, "schedule": settings.reminder_scan_seconds}
        },
    }


def __getattr__(name: str) -> Celery:
    """``celery -A taskflow_notify.worker:celery``: Celery finds its app by attribute and cannot
    call a factory, so the attribute is built when Celery asks for it (from the environment),
    never at import."""
    if name == "celery":
        return create_celery_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
