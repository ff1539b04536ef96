"""The ``scan_reminders`` Celery job, which beat schedules: one reminder scan, run on a
worker. The Celery app itself is built in ``app.py``."""

from __future__ import annotations

import asyncio

from sqlalchemy.pool import NullPool
from taskflow_chassis.db import Database
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import Publisher

from taskflow_notify.deps import NotifyDeps
from taskflow_notify.notifications.scheduled import ReminderScan

SCAN_REMINDERS = "taskflow_notify.scan_reminders"


class ReminderJobs:
    def __init__(self, deps: NotifyDeps, publisher: Publisher) -> None:
        self.deps = deps
        self.publisher = publisher

    def scan_reminders(self) -> int:
        return asyncio.run(self._scan())

    async def _scan(self) -> int:
        # A short-lived engine: the job runs once a minute, on its own event loop.
        database = Database(self.deps.settings.resolved_database_url(), poolclass=NullPool)
        try:
            return await ReminderScan(database, self.deps, self.publisher).run_once(utcnow())
        finally:
            await database.dispose()
