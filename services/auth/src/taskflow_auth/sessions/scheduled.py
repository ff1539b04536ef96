"""Periodic housekeeping: forget tokens, revocations and links once nothing can use them."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI
from taskflow_chassis.db import Database
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

from taskflow_auth.tokens.service import delete_expired
from taskflow_auth.users.service import delete_expired_links

logger = logging.getLogger("taskflow.auth.scheduled")

PURGE_INTERVAL_SECONDS = 3600.0


async def purge_expired(uow: UnitOfWork) -> None:
    now = utcnow()
    await delete_expired(uow.session, now)
    await delete_expired_links(uow.session, now)
    await uow.commit()


async def purge_expired_forever(
    database: Database, publisher: Publisher, interval: float = PURGE_INTERVAL_SECONDS
) -> None:
    while True:
        try:
            async with database.session() as session:
                await purge_expired(UnitOfWork(session, publisher))
        except Exception:
            logger.exception("purging expired tokens failed; trying again later")
        await asyncio.sleep(interval)


async def start(app: FastAPI) -> None:
    app.state.purge_task = asyncio.create_task(
        purge_expired_forever(app.state.database, app.state.publisher),
        name="auth-purge-expired",
    )


async def stop(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "purge_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
