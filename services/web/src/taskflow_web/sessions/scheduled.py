"""Periodic housekeeping: sessions past their end are deleted (a browser that never came
back, and an anonymous browser's message never read)."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from taskflow_chassis.periodic import PURGE_INTERVAL_SECONDS, PeriodicJob

logger = logging.getLogger("taskflow.web.scheduled")


async def start(app: FastAPI) -> None:
    """After the app's own start (``app.state.sessions``)."""
    app.state.session_purge = PeriodicJob(
        "web-purge-expired-sessions",
        app.state.sessions.purge_expired,
        interval=PURGE_INTERVAL_SECONDS,
        logger=logger,
        what="purging expired sessions",
        done="%s expired sessions deleted",
    )
    app.state.session_purge.start()


async def stop(app: FastAPI) -> None:
    await app.state.session_purge.stop()
