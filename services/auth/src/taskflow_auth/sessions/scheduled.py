"""Periodic housekeeping: forget tokens, revocations and links once nothing can use them."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from taskflow_chassis.periodic import PURGE_INTERVAL_SECONDS, PeriodicJob
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import UnitOfWork

from taskflow_auth.tokens.service import delete_expired
from taskflow_auth.users.service import delete_expired_links

logger = logging.getLogger("taskflow.auth.scheduled")


async def purge_expired(uow: UnitOfWork) -> None:
    now = utcnow()
    await delete_expired(uow.session, now)
    await delete_expired_links(uow.session, now)
    await uow.commit()


async def start(app: FastAPI) -> None:
    database, publisher = app.state.database, app.state.publisher

    async def purge() -> None:
        async with database.session() as session:
            await purge_expired(UnitOfWork(session, publisher))

    app.state.expired_purge = PeriodicJob(
        "auth-purge-expired",
        purge,
        interval=PURGE_INTERVAL_SECONDS,
        logger=logger,
        what="purging expired tokens",
    )
    app.state.expired_purge.start()


async def stop(app: FastAPI) -> None:
    await app.state.expired_purge.stop()
