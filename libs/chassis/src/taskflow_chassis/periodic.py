"""A job run every ``interval`` seconds on its own task (the hourly purges, the embedded
reminder scan), and the purge of soft-deleted rows that teams and projects run on it.

The first run comes at ``start``, each next one ``interval`` seconds after the last
ended. A run that raises is logged with its traceback and the next one comes at its
time; the loop never ends by itself. ``stop`` cancels the task, a run in progress
with it: each job does its work in units of work that commit or roll back whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import Table, select

from taskflow_chassis.db import Database
from taskflow_chassis.deps import Clock
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

Job = Callable[[], Awaitable[object]]
# Erase one row deleted before the instant given, in the unit of work given: whether it was.
PurgeOne = Callable[[UnitOfWork, uuid.UUID, datetime], Awaitable[bool]]

PURGE_INTERVAL_SECONDS = 3600.0


@dataclass(eq=False)
class PeriodicJob:
    """``job`` every ``interval`` seconds on a task called ``name``, logged on the service's
    ``logger``: a failed run as "<what> failed; trying again later", and, given ``done``
    (a format with one ``%s``), each run that answers a count other than zero."""

    name: str
    job: Job
    interval: float
    logger: logging.Logger
    what: str
    done: str | None = None
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)

    async def run_forever(self) -> None:
        while True:
            try:
                result = await self.job()
                if self.done is not None and result:
                    self.logger.info(self.done, result)
            except Exception:
                self.logger.exception("%s failed; trying again later", self.what)
            await asyncio.sleep(self.interval)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run_forever(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def app_clock(app: FastAPI) -> Clock:
    """What time it is for ``app``'s jobs: ``app.state.clock`` (tests set and move it),
    read at each call, else the real time."""

    def now() -> datetime:
        clock: Clock = getattr(app.state, "clock", utcnow)
        return clock()

    return now


@dataclass(frozen=True)
class SoftDeletePurge:
    """The hourly purge of a soft-deleted resource (teams, projects): the rows of ``table``
    whose ``deleted_at`` is ``restorable_for`` old, oldest first and a batch a pass, each
    erased by ``purge_one`` in its own unit of work (one failing is logged and stops no
    other). ``start`` and ``stop`` are the app's hooks: the job runs on the app's database
    and clock, on a task called ``name``."""

    name: str
    table: Table
    restorable_for: timedelta
    purge_one: PurgeOne
    noun: str
    logger: logging.Logger
    interval: float = PURGE_INTERVAL_SECONDS

    async def run(
        self, database: Database, publisher: Publisher, now: datetime, batch_size: int = 100
    ) -> int:
        """One pass at ``now``: how many were purged."""
        due, table = now - self.restorable_for, self.table
        async with database.read_sessionmaker() as session:
            row_ids = list(
                (
                    await session.execute(
                        select(table.c.id)
                        .where(table.c.deleted_at.is_not(None), table.c.deleted_at <= due)
                        .order_by(table.c.deleted_at)
                        .limit(batch_size)
                    )
                ).scalars()
            )
        purged = 0
        for row_id in row_ids:
            try:
                async with database.session() as session:
                    purged += await self.purge_one(UnitOfWork(session, publisher), row_id, due)
            except Exception:
                self.logger.exception(
                    "purging deleted %s %s failed; trying again later", self.noun, row_id
                )
        return purged

    def job(self, app: FastAPI) -> PeriodicJob:
        database, publisher, clock = app.state.database, app.state.publisher, app_clock(app)
        return PeriodicJob(
            self.name,
            lambda: self.run(database, publisher, clock()),
            interval=self.interval,
            logger=self.logger,
            what=f"purging deleted {self.noun}s",
            done=f"purged %s deleted {self.noun}(s)",
        )

    async def start(self, app: FastAPI) -> None:
        job = self.job(app)
        setattr(app.state, self._key, job)
        job.start()

    async def stop(self, app: FastAPI) -> None:
        job: PeriodicJob = getattr(app.state, self._key)
        await job.stop()

    @property
    def _key(self) -> str:
        return self.name.replace("-", "_")
