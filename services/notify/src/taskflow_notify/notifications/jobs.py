"""The ``scan_reminders`` Celery job, which beat schedules: one reminder scan, run on a
worker. The Celery app itself is built in ``worker.py``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sqlalchemy.pool import NullPool
from taskflow_chassis.db import Database
from taskflow_chassis.types import utcnow

from taskflow_notify.config import NotifySettings

if TYPE_CHECKING:
    from taskflow_notify.deps import NotifyDeps

SCAN_REMINDERS = "taskflow_notify.scan_reminders"


class ReminderJobs:
    def __init__(self, settings: NotifySettings, deps: NotifyDeps | None = None) -> None:
        self.settings = settings
        self.deps = deps

    def scan_reminders(self) -> int:
        return asyncio.run(self._scan())

    async def _scan(self) -> int:
        # Imported on the first scan, not at the worker's start: the scan shares the API's
        # notification code (FastAPI with it), which a worker sending email does not need,
        # and a restarted worker sends again seconds sooner without it.
        from taskflow_chassis.unit_of_work import Publisher

        from taskflow_notify.deps import NotifyDeps
        from taskflow_notify.email.service import EmailTemplates
        from taskflow_notify.notifications.scheduled import ReminderScan

        if self.deps is None:
            self.deps = NotifyDeps(settings=self.settings, templates=EmailTemplates())
        # A short-lived engine: the job runs once a minute, on its own event loop.
        database = Database(self.settings.resolved_database_url(), poolclass=NullPool)
        try:
            scan = ReminderScan(database, self.deps, Publisher("notify"))
            return await scan.run_once(utcnow())
        finally:
            await database.dispose()
