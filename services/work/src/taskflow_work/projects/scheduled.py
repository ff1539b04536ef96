"""The purge: a project deleted RESTORABLE_FOR ago (and not restored) is erased with its
tasks, comments and activity, and ProjectPurged says so."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI
from sqlalchemy import select
from taskflow_chassis.db import Database
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

from taskflow_work.projects.models import RESTORABLE_FOR, Project
from taskflow_work.projects.service import purge_project

logger = logging.getLogger("taskflow.work.scheduled")

PURGE_INTERVAL_SECONDS = 3600.0
_projects = table_of(Project)


async def purge_deleted_projects(
    database: Database, publisher: Publisher, now: datetime, batch_size: int = 100
) -> int:
    """Purge the projects deleted before ``now - RESTORABLE_FOR``, each in its own unit of
    work (one failing does not stop the others): how many were purged."""
    due = now - RESTORABLE_FOR
    async with database.read_sessionmaker() as session:
        project_ids = list(
            (
                await session.execute(
                    select(_projects.c.id)
                    .where(_projects.c.deleted_at.is_not(None), _projects.c.deleted_at <= due)
                    .order_by(_projects.c.deleted_at)
                    .limit(batch_size)
                )
            ).scalars()
        )
    purged = 0
    for project_id in project_ids:
        try:
            async with database.session() as session:
                purged += await purge_project(UnitOfWork(session, publisher), project_id, due)
        except Exception:
            logger.exception("purging deleted project %s failed; trying again later", project_id)
    return purged


async def purge_forever(
    database: Database, publisher: Publisher, clock: Callable[[], datetime], interval: float
) -> None:
    while True:
        try:
            count = await purge_deleted_projects(database, publisher, clock())
            if count:
                logger.info("purged %s deleted project(s)", count)
        except Exception:
            logger.exception("purging deleted projects failed; trying again later")
        await asyncio.sleep(interval)


async def start(app: FastAPI) -> None:
    def clock() -> datetime:
        now: datetime = getattr(app.state, "clock", utcnow)()  # tests move app.state.clock
        return now

    app.state.project_purge_task = asyncio.create_task(
        purge_forever(app.state.database, app.state.publisher, clock, PURGE_INTERVAL_SECONDS),
        name="work-purge-deleted-projects",
    )


async def stop(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "project_purge_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
