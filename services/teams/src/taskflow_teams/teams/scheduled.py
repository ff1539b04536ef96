"""The purge: a team deleted RESTORABLE_FOR ago (and not restored) is erased, and
TeamPurged says so (consumers erase what they hold of it then, not at the deletion)."""

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

from taskflow_teams.teams.models import RESTORABLE_FOR, Team
from taskflow_teams.teams.service import purge_team

logger = logging.getLogger("taskflow.teams.scheduled")

PURGE_INTERVAL_SECONDS = 3600.0
_teams = table_of(Team)


async def purge_deleted_teams(
    database: Database, publisher: Publisher, now: datetime, batch_size: int = 100
) -> int:
    """Purge the teams deleted before ``now - RESTORABLE_FOR``, each in its own unit of
    work (one failing does not stop the others): how many were purged."""
    due = now - RESTORABLE_FOR
    async with database.read_sessionmaker() as session:
        team_ids = list(
            (
                await session.execute(
                    select(_teams.c.id)
                    .where(_teams.c.deleted_at.is_not(None), _teams.c.deleted_at <= due)
                    .order_by(_teams.c.deleted_at)
                    .limit(batch_size)
                )
            ).scalars()
        )
    purged = 0
    for team_id in team_ids:
        try:
            async with database.session() as session:
                purged += await purge_team(UnitOfWork(session, publisher), team_id, due)
        except Exception:
            logger.exception("purging deleted team %s failed; trying again later", team_id)
    return purged


async def purge_forever(
    database: Database, publisher: Publisher, clock: Callable[[], datetime], interval: float
) -> None:
    while True:
        try:
            count = await purge_deleted_teams(database, publisher, clock())
            if count:
                logger.info("purged %s deleted team(s)", count)
        except Exception:
            logger.exception("purging deleted teams failed; trying again later")
        await asyncio.sleep(interval)


async def start(app: FastAPI) -> None:
    def clock() -> datetime:
        now: datetime = getattr(app.state, "clock", utcnow)()  # tests move app.state.clock
        return now

    app.state.team_purge_task = asyncio.create_task(
        purge_forever(app.state.database, app.state.publisher, clock, PURGE_INTERVAL_SECONDS),
        name="teams-purge-deleted",
    )


async def stop(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "team_purge_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
