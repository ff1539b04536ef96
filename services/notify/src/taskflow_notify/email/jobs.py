"""The ``send_emails`` Celery job: it sends logged emails over kept SMTP connections, each
unless it is sent, held by another job, or not due (``send_email``, one email, remains for
jobs queued before there were batches). The Celery app itself is built in ``app.py``."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import uuid

from celery import Celery
from taskflow_chassis.db import Database

from taskflow_notify.config import NotifySettings
from taskflow_notify.email.adapters import EmailBackend, create_backend
from taskflow_notify.email.service import EmailSender, job_database

SEND_EMAIL = "taskflow_notify.send_email"
SEND_EMAILS = "taskflow_notify.send_emails"

logger = logging.getLogger("taskflow.notify.worker")


class _JobThread:
    """One event loop per job thread, kept from job to job, so the database pool and the
    mail backends (their connections, their TLS contexts) are made once, not per email."""

    def __init__(self, settings: NotifySettings) -> None:
        self.pid = os.getpid()
        self.runner = asyncio.Runner()
        self.database: Database = job_database(settings)
        url = settings.resolved_email_url()
        self.backends: list[EmailBackend] = [
            create_backend(url) for _ in range(settings.email_connections)
        ]


class EmailJobs:
    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self.sender = EmailSender(settings)
        self._threads = threading.local()

    def send_email(self, email_id: str) -> str:
        """Send one email; never raises (see ``send_emails``)."""
        return self.send_emails([email_id])[0]

    def send_emails(self, email_ids: list[str]) -> list[str]:
        """Send these emails over the thread's SMTP connections (``email_connections``
        at once, one after the other on each); answer what happened to each; never raises.

        No Celery retry, no countdown: a later attempt is written in each email's row and
        the dispatcher queues it when due, so no job waits in Redis longer than the
        visibility timeout. Whatever fails here (SMTP, the database) is recorded or left
        for the dispatcher; the worker carries on.
        """
        try:
            thread = self._thread()
            ids = [uuid.UUID(email_id) for email_id in email_ids]
            return thread.runner.run(self.sender.send_many(ids, thread.backends, thread.database))
        except Exception:
            # A bug, most likely: the emails' rows still say what to do, the dispatcher does it.
            logger.exception(
                "send_emails %s failed; the dispatcher will queue them again", email_ids
            )
            return ["error"] * len(email_ids)

    def _thread(self) -> _JobThread:
        thread: _JobThread | None = getattr(self._threads, "job", None)
        # A forked child must not use its parent's connections.
        if thread is None or thread.pid != os.getpid():
            thread = self._threads.job = _JobThread(self.settings)
        return thread


def warm_up_producer(celery: Celery) -> None:
    """Load the broker's client and open a producer connection now: done lazily, it cost
    the first email of each API worker seconds of imports. A broker still down is no
    reason not to start; the first job retries the connection as usual."""
    try:
        with celery.producer_or_acquire() as producer:
            producer.connection.ensure_connection(max_retries=1)
    except Exception as exc:  # any broker failure: the first job retries it
        logger.warning("Celery broker not reachable at start-up: %s", exc)
