"""A background loop woken right after a commit that left it work, with a periodic sweep.

The outbox relay is one; notify's email dispatcher is another. A writer marks its
session (``mark``); once that session commits, every loop of the database wakes
at once (the flag is cleared after the transaction ends, not by the first hook
that sees it), and each loop also sweeps every ``interval`` seconds for anything
an earlier run left behind. ``min_gap`` spaces the passes under a stream of commits
(each pass then takes what several left). ``stop`` lets a pass in progress finish: a
cancelled pass may have done work it never recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from abc import ABC, abstractmethod

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from taskflow_chassis.db import Database

logger = logging.getLogger("taskflow.pump")

# Each Database has its own Session class; weak, so a disposed one can go.
_flag_clearing: weakref.WeakKeyDictionary[type[Session], set[str]] = weakref.WeakKeyDictionary()


def mark_session(session: AsyncSession, flag: str) -> None:
    """Say this session's commit leaves work for the loops watching ``flag``."""
    sync_session = session.sync_session
    session_class = type(sync_session)
    flags = _flag_clearing.setdefault(session_class, set())
    if flag not in flags:
        flags.add(flag)

        def forget(session: Session, transaction: SessionTransaction) -> None:
            # After every after_commit hook of the outermost transaction (or a rollback).
            if transaction.parent is None:
                session.info.pop(flag, None)

        sa_event.listen(session_class, "after_transaction_end", forget)
    sync_session.info[flag] = True


class CommitWokenLoop(ABC):
    # Each subclass names its own: the flag its writers set and the name its task logs under.
    flag: str
    name: str

    def __init__(
        self, database: Database, *, interval: float, batch_size: int, min_gap: float = 0.0
    ) -> None:
        self.database = database
        self.interval = interval
        self.batch_size = batch_size
        # Passes begin at least this far apart: a wake soon after a pass waits out the rest
        # of the gap, gathering what further commits leave meanwhile into the next pass; a
        # wake after a quiet spell starts a pass at once. Zero: every wake, at once.
        self.min_gap = min_gap
        self._gap_from = float("-inf")
        self._in_gap = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        database.on_commit(self._after_commit)

    @classmethod
    def mark(cls, session: AsyncSession) -> None:
        mark_session(session, cls.flag)

    def _after_commit(self, session: Session) -> None:
        if session.info.get(self.flag):
            self.wake()

    def wake(self) -> None:
        """Ask for a pass now (safe from any thread; a no-op while stopped)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self._wake = asyncio.Event()
        self._wake.set()  # whatever an earlier run left behind
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a grace period, then cancel
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        if self._in_gap:
            task.cancel()  # waiting out the gap: nothing to finish
        _done, pending = await asyncio.wait({task}, timeout=timeout)
        if pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loop = None

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            if self._stopping:
                break
            wait = self._gap_from + self.min_gap - asyncio.get_running_loop().time()
            if wait > 0:
                self._in_gap = True  # no pass in progress: stop may cancel it here
                try:
                    await asyncio.sleep(wait)
                finally:
                    self._in_gap = False
            self._wake.clear()
            self._gap_from = asyncio.get_running_loop().time()
            try:
                while await self.run_once() == self.batch_size and not self._stopping:
                    pass  # a full batch: more may be waiting
            except Exception:
                logger.exception("%s pass failed; retrying on the next sweep", self.name)

    @abstractmethod
    async def run_once(self) -> int:
        """Handle up to ``batch_size`` items; answer how many."""
