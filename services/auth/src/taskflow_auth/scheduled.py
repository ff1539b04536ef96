"""Periodic housekeeping: forget revoked and expired tokens once they can no longer be used."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI
from taskflow_chassis.db import Database

from taskflow_auth import service

logger = logging.getLogger("taskflow.auth.scheduled")

PURGE_INTERVAL_SECONDS = 3600.0


async def purge_expired_tokens_forever(
    database: Database, interval: float = PURGE_INTERVAL_SECONDS
) -> None:
    while True:
        try:
            async with database.session() as session:
                await service.purge_expired(session)
        except Exception:
            logger.exception("purging expired tokens failed; trying again later")
        await asyncio.sleep(interval)


async def start(app: FastAPI) -> None:
    app.state.purge_task = asyncio.create_task(
        purge_expired_tokens_forever(app.state.database), name="auth-purge-expired"
    )


async def stop(app: FastAPI) -> None:
    task: asyncio.Task[None] | None = getattr(app.state, "purge_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
