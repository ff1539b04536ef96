"""The unit of work: one transaction, the events it stages, and one commit.

A service function changes rows through ``uow.session`` and stages the facts it
establishes with ``uow.publish(...)``; ``uow.commit()`` writes every staged event
to the outbox (one insert, in staging order) and commits once, so the events
leave if and only if the change does. An event handler gets a unit of work from
the consumer and never commits: the consumer commits it with the inbox row.

Rows that many handlers of a batch add to the same tables (feed rows, emails) may be
gathered instead of written one event at a time: ``uow.gathered(Writer)`` is the unit
of work's one ``Writer``, and its ``write`` runs at the flush before the commit, so a
batch of events writes them in a few statements and still commits them with the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Protocol, TypeVar, cast

from fastapi import Depends, Request
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_contracts.base import EventPayload

from taskflow_chassis.bound import BoundWrite
from taskflow_chassis.deps import get_session
from taskflow_chassis.events import CloudEvent, new_event
from taskflow_chassis.idempotency import holds_commit
from taskflow_chassis.outbox import add_to_outbox, outbox_insert
from taskflow_chassis.problems import ProblemError

__all__ = ["GatheredWrites", "Publisher", "UnitOfWork", "UnitOfWorkDep", "get_unit_of_work"]


class GatheredWrites(Protocol):
    """Rows gathered over a unit of work; ``write`` writes what it holds and empties it."""

    async def write(self) -> None: ...


W = TypeVar("W", bound=GatheredWrites)


class Publisher:
    """Turns one service's payloads into CloudEvents carrying its source."""

    def __init__(self, service: str) -> None:
        self.source = f"/taskflow/{service}"

    def envelope(self, payload: EventPayload, *, subject: str | None = None) -> CloudEvent:
        return new_event(payload.event_type, source=self.source, data=payload, subject=subject)


class UnitOfWork:
    def __init__(
        self, session: AsyncSession, publisher: Publisher, *, of_request: bool = False
    ) -> None:
        self.session = session
        self.publisher = publisher
        # The request's own unit of work: a keyed POST commits it with its answer.
        self.of_request = of_request
        self._staged: list[CloudEvent] = []
        self._gathered: dict[Callable[[UnitOfWork], GatheredWrites], GatheredWrites] = {}

    def gathered(self, make: Callable[[UnitOfWork], W]) -> W:
        """This unit of work's one ``make(self)``, made at the first call; written, in the
        order they were made, by the next ``flush`` (or ``commit``)."""
        writes = self._gathered.get(make)
        if writes is None:
            writes = self._gathered[make] = make(self)
        return cast(W, writes)

    def publish(self, *payloads: EventPayload, subject: str | None = None) -> None:
        """Stage events; they reach the outbox with the next commit (or flush)."""
        self._staged.extend(
            self.publisher.envelope(payload, subject=subject) for payload in payloads
        )

    @property
    def staged(self) -> tuple[CloudEvent, ...]:
        return tuple(self._staged)

    async def flush(self) -> None:
        """Write the gathered rows, then the staged events to the outbox, in this
        transaction, without committing."""
        for writes in self._gathered.values():
            await writes.write()
        events, self._staged = self._staged, []
        await add_to_outbox(self.session, *events)

    def take_outbox_insert(self) -> BoundWrite | None:
        """The staged events as one outbox INSERT, for a service to run inside a statement
        of its own (its write and the events in one round trip); they are staged no more,
        and ``commit`` commits them with the rest. None: nothing staged."""
        events, self._staged = self._staged, []
        return outbox_insert(self.session, *events)

    async def commit(self) -> None:
        await self.flush()
        if self.of_request and holds_commit(self.session):
            # A keyed POST: the change commits with its answer (taskflow_chassis.idempotency).
            await self.session.flush()
            return
        await self.session.commit()

    async def commit_unique(self, conflict: ProblemError) -> None:
        """Commit; where a unique index was won by a concurrent request, answer ``conflict``
        (a 409 the caller words) instead of a 500."""
        try:
            await self.commit()
        except IntegrityError as exc:
            await self.rollback()
            raise conflict from exc

    async def rollback(self) -> None:
        self._staged.clear()
        self._gathered.clear()
        await self.session.rollback()


async def get_unit_of_work(
    request: Request, session: Annotated[AsyncSession, Depends(get_session)]
) -> UnitOfWork:
    """The request's unit of work; what it staged but did not commit goes with it. Not a
    generator: nothing to undo at its end, and FastAPI's exit stack around one cost more
    than the request's use of it."""
    return UnitOfWork(session, request.app.state.publisher, of_request=True)


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]
