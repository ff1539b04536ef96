"""Dependencies every service's routes use, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from taskflow_chassis.db import Database
from taskflow_chassis.idempotency import keyed_request
from taskflow_chassis.types import utcnow

READ_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session per request; a read (GET, HEAD), and a route that writes in one statement
    (``without_transaction``), run without a transaction."""
    database: Database = request.app.state.database
    reading = request.method in READ_METHODS
    alone = getattr(request.state, "without_transaction", False) and not keyed_request()
    sessions = database.read_sessionmaker if reading or alone else database.sessionmaker
    async with sessions() as session:
        yield session


def without_transaction(request: Request) -> None:
    """For a route whose writes are one statement (which commits alone, all or nothing):
    no BEGIN and COMMIT round trips around it. Called by a route dependency, solved before
    the session is made (an ``async def``: FastAPI runs a plain one on a thread). A keyed
    request keeps its transaction: its change commits with its answer
    (taskflow_chassis.idempotency)."""
    request.state.without_transaction = True


SessionDep = Annotated[AsyncSession, Depends(get_session)]


Clock = Callable[[], datetime]


async def get_clock(request: Request) -> Clock:
    """The app's clock (``app.state.clock``); tests set it to move time."""
    clock: Clock = getattr(request.app.state, "clock", utcnow)
    return clock


ClockDep = Annotated[Clock, Depends(get_clock)]
