"""The retention: audit entries older than TEAMS_AUDIT_RETENTION_DAYS are deleted, in
batches, by an hourly job on every teams process (a delete by age: harmless when two
processes run it at once)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from fastapi import FastAPI
from taskflow_chassis.db import Database
from taskflow_chassis.periodic import PURGE_INTERVAL_SECONDS, PeriodicJob, app_clock
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

from taskflow_teams.audit import service
from taskflow_teams.config import TeamsSettings

logger = logging.getLogger("taskflow.teams.audit")


class AuditPurge:
    def __init__(self, database: Database, publisher: Publisher, settings: TeamsSettings) -> None:
        self.database, self.publisher = database, publisher
        self.retention = timedelta(days=settings.audit_retention_days)
        self.batch_size = settings.audit_purge_batch
        self._timer: PeriodicJob | None = None

    async def run_once(self, now: datetime) -> int:
        """Delete what occurred before ``now`` minus the retention, a batch a transaction
        until none is left: how many went."""
        before, purged = now - self.retention, 0
        while True:
            async with self.database.session() as session:
                batch = await service.purge_batch(
                    UnitOfWork(session, self.publisher), before, self.batch_size
                )
            purged += batch
            if batch < self.batch_size:
                return purged

    def start(self, clock: Callable[[], datetime]) -> None:
        if self._timer is None:
            self._timer = PeriodicJob(
                "teams-audit-purge",
                lambda: self.run_once(clock()),
                interval=PURGE_INTERVAL_SECONDS,
                logger=logger,
                what="purging old audit entries",
                done="purged %s audit entr(y/ies) past their retention",
            )
        self._timer.start()

    async def stop(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            await timer.stop()


async def start(app: FastAPI) -> None:
    app.state.audit_purge = AuditPurge(app.state.database, app.state.publisher, app.state.settings)
    app.state.audit_purge.start(app_clock(app))


async def stop(app: FastAPI) -> None:
    await app.state.audit_purge.stop()
