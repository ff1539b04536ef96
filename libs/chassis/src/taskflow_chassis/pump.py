"""A background loop woken right after a commit that left it work, with a periodic sweep.

The outbox relay is one; notify's email dispatcher is another. A writer marks its
session (``mark``); after that session commits, the loop wakes at once, and it
also sweeps every ``interval`` seconds for anything an earlier run left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from taskflow_chassis.db import Database

logger = logging.getLogger("taskflow.pump")


class CommitWokenLoop(ABC):
    flag: str = "taskflow_work_written"
    name: str = "commit-woken-loop"

    def __init__(self, database: Database, *, interval: float, batch_size: int) -> None:
        self.database = database
        self.interval = interval
        self.batch_size = batch_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        database.on_commit(self._after_commit)

    @classmethod
    def mark(cls, session: AsyncSession) -> None:
        """Say this session's commit leaves work for the loop."""
        session.sync_session.info[cls.flag] = True

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(self.flag, False):
            self.wake()

    def wake(self) -> None:
        if self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._wake.set()
        else:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._wake.set()  # whatever an earlier run left behind
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loop = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            try:
                while await self.run_once() == self.batch_size:
                    pass  # a full batch: more may be waiting
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("%s pass failed; retrying on the next sweep", self.name)

    @abstractmethod
    async def run_once(self) -> int:
        """Handle up to ``batch_size`` items; answer how many."""
