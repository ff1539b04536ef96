"""Dependencies every service's routes use, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from taskflow_chassis.db import Database
from taskflow_chassis.types import utcnow

READ_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session per request; a read (GET, HEAD) runs without a transaction."""
    database: Database = request.app.state.database
    reading = request.method in READ_METHODS
    async with (database.read_sessionmaker if reading else database.sessionmaker)() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


Clock = Callable[[], datetime]


async def get_clock(request: Request) -> Clock:
    """The app's clock (``app.state.clock``); tests set it to move time."""
    clock: Clock = getattr(request.app.state, "clock", utcnow)
    return clock


ClockDep = Annotated[Clock, Depends(get_clock)]
