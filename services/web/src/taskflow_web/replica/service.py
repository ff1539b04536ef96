"""Pages kept per person until an event says their data changed.

A page of a project (the board, the task list) reads the same answers from the API
again and again: the project, the person's membership, the tasks, the members. Asking
costs three services, the gateway and their databases some 30 ms of CPU a page; a kept
answer costs one read of the generations (Redis ``MGET``). Each answer is kept in this
process's memory with the generations it was read at (``rules.project_scope``): the
person's, the team's, the project's, the names'. An event web consumes moves the
counters it concerns (messaging.py), a change the person makes through web moves theirs
at once (their next page shows it), and an answer kept at other counters is asked
again. So a member removed or given another role gets the API's answer (404, fewer
permissions) on the next page after the event, and a person is never served an answer
kept for another (the person is part of every key).

The board's rendered body is kept too, under the same generations (rendering a hundred
cards costs more than the rest of a kept page): with a placeholder where the CSRF token
goes, which each request fills with its own session's token and a new rendering id.
What is per request (the layout: who is signed in, the unread badge, a one-time
message) is never kept. The session is still loaded and checked on every request."""

from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from taskflow_chassis.unit_of_work import UnitOfWork

from taskflow_web.replica import rules
from taskflow_web.replica.adapters import Generations

logger = logging.getLogger("taskflow.web.replica")

T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    """The generations of a scope as read before the API was asked: an answer is kept
    with them (a change during the call leaves it already out of date, never fresh)."""

    names: tuple[str, ...]
    values: tuple[int, ...] | None  # None: unknown (Redis away, cache off): nothing kept
    # Asked for afresh (a reload that says ``Cache-Control: no-cache``): nothing kept is
    # served, what is read is kept.
    fresh: bool = False

    @property
    def usable(self) -> bool:
        return self.values is not None


class PageCache:
    """Answers and rendered bodies, per person, in this process (the least recently used
    go first past ``entries``); valid while their generations hold and at most
    ``seconds`` (a backstop for a lost event)."""

    def __init__(
        self,
        generations: Generations,
        *,
        enabled: bool = True,
        seconds: float = 30.0,
        entries: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.generations, self.enabled = generations, enabled
        self.seconds, self.entries, self.clock = seconds, entries, clock
        self._kept: OrderedDict[rules.Key, tuple[tuple[int, ...], float, Any]] = OrderedDict()
        # Stands where the CSRF token goes in a kept body: random, so no page's own text
        # can hold it.
        self.csrf_slot = f"csrf-slot-{secrets.token_hex(16)}"

    async def snapshot(self, names: Sequence[str], *, fresh: bool = False) -> Snapshot:
        values = await self.generations.read(names) if self.enabled else None
        return Snapshot(tuple(names), values, fresh)

    def get(self, snapshot: Snapshot, key: rules.Key) -> Any | None:
        if snapshot.values is None or snapshot.fresh:
            return None
        kept = self._kept.get(key)
        if kept is None:
            return None
        values, stored_at, value = kept
        if values != snapshot.values or self.clock() - stored_at >= self.seconds:
            del self._kept[key]
            return None
        self._kept.move_to_end(key)
        return value

    def put(self, snapshot: Snapshot, key: rules.Key, value: Any) -> None:
        if snapshot.values is None:
            return
        self._kept[key] = (snapshot.values, self.clock(), value)
        self._kept.move_to_end(key)
        while len(self._kept) > self.entries:
            self._kept.popitem(last=False)

    async def answer(
        self, snapshot: Snapshot, key: rules.Key, ask: Callable[[], Awaitable[T]]
    ) -> T:
        """The kept answer of ``key``, else ``ask``'s (kept; a problem raised is not)."""
        kept: T | None = self.get(snapshot, key)
        if kept is not None:
            return kept
        value = await ask()
        self.put(snapshot, key, value)
        return value

    async def bump(self, names: Sequence[str]) -> None:
        """An event's change: raises where the generations cannot be moved (the consumer
        tries the event again)."""
        await self.generations.bump(names)

    def moves(self, uow: UnitOfWork) -> CounterMoves:
        """What a batch of events moves, for ``uow.gathered``: each counter once, in one
        round trip when the batch commits."""
        return CounterMoves(self)

    async def changed_by(self, user_id: Any) -> None:
        """The person changed something through web: their kept pages are out of date.
        Their change is made whatever happens here (a Redis away is logged: its reads
        fail too, so nothing kept is served meanwhile)."""
        try:
            await self.generations.bump([rules.person(user_id)])
        except Exception as exc:  # whatever it is: the change is made, the page must not fail
            logger.warning("page cache: could not mark %s's change (%s)", user_id, exc)

    async def close(self) -> None:
        self._kept.clear()
        await self.generations.close()


@dataclass
class CounterMoves:
    """The counters an event batch's handlers move, gathered (a write's two events move
    its project's once)."""

    cache: PageCache
    names: dict[str, None] = field(default_factory=dict)

    def add(self, names: Sequence[str]) -> None:
        self.names.update(dict.fromkeys(names))

    async def write(self) -> None:
        names, self.names = list(self.names), {}
        if names:
            await self.cache.bump(names)
