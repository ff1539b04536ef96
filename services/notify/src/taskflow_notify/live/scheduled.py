"""The prune: live events older than the retention go, on every notify process's own
timer (a delete by age, harmless when two processes run it at once)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from taskflow_chassis.db import Database
from taskflow_chassis.periodic import PeriodicJob
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

from taskflow_notify.config import NotifySettings
from taskflow_notify.live import service

logger = logging.getLogger("taskflow.notify.live")


class LivePrune:
    def __init__(self, database: Database, publisher: Publisher, settings: NotifySettings) -> None:
        self.database = database
        self.publisher = publisher
        self.retention = timedelta(hours=settings.live_retention_hours)
        self.interval = settings.live_prune_seconds
        self._timer: PeriodicJob | None = None

    async def run_once(self, now: datetime) -> int:
        """Prune what was written before ``now`` minus the retention: how many went."""
        async with self.database.session() as session:
            return await service.prune(UnitOfWork(session, self.publisher), now - self.retention)

    def start(self, clock: Callable[[], datetime]) -> None:
        if self._timer is None:
            self._timer = PeriodicJob(
                "live-prune",
                lambda: self.run_once(clock()),
                interval=self.interval,
                logger=logger,
                what="pruning live events",
                done="pruned %s live event(s)",
            )
        self._timer.start()

    async def stop(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            await timer.stop()
