"""Live events: written in the transaction of what causes them, read by each open stream
after its cursor.

Any number of notify processes on any database: a stream reads its user's rows after the
last number it sent, so an event written by one process reaches a stream held by another.
It reads them when its process's ``CursorWatch`` (one read of the newest numbers of every
user with a stream open, each poll interval) finds its user's number past its cursor.
A user's numbers have no gaps (the number and the row commit together) and commit in
order (``LiveCursor``'s lock), so a stream that sent number n has missed nothing below it,
and a missing n + 1 can only mean it was pruned: the client is told to reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fastapi import Request
from sqlalchemy import Table, bindparam, delete, select, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.db import (
    Database,
    dialect_of_session,
    insert_or_ignore,
    one_of,
    rows_matched,
)
from taskflow_chassis.security import InvalidToken, TokenCheck, TokenClaims
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import UnitOfWork

from taskflow_notify.config import NotifySettings
from taskflow_notify.live import rules
from taskflow_notify.live.models import LiveCursor, LiveEvent
from taskflow_notify.replica.models import UserReplica
from taskflow_notify.replica.schemas import person_ref
from taskflow_notify.replica.service import KeptReads, kept_reads

logger = logging.getLogger("taskflow.notify.live")

Payload = Mapping[str, Any]
# A payload made once the user's next number is taken (under its lock), so what it counts
# (the unread notifications) is in step with the events numbered before and after it.
PayloadFactory = Callable[[], Awaitable[Payload]]
# What a stream sends first (and with a reset): made in the stream's own read session.
Greeting = Callable[[AsyncSession], Awaitable[Payload]]
StillOpen = Callable[[], Awaitable[bool]]

_events = table_of(LiveEvent)
_cursors = table_of(LiveCursor)

# Rows read per poll; a stream that gets a full batch reads again at once.
BATCH = 100
# Users whose newest numbers one statement of the watch reads.
WATCH_CHUNK = 500
# How long notify's shutdown waits for the streams' reads under way.
STOP_WAIT_SECONDS = 5.0


@dataclass
class GatheredEvent:
    """A live event gathered over a unit of work (``LiveWrites``): ``actor_id`` set, its
    payload's ``actor`` is that person as the replica knows them at write time;
    ``notification_id`` set, it is that feed row's event, kept only if the row is new, and
    its payload (actor included) is made by the rows' writer (``FeedRows``) once it has
    its number."""

    user_id: uuid.UUID
    kind: str
    payload: dict[str, Any]
    actor_id: uuid.UUID | None = None
    notification_id: uuid.UUID | None = None
    seq: int = 0


class FeedRows(Protocol):
    """The feed rows whose events a ``LiveWrites`` holds (notifications.service)."""

    async def write_new(self) -> set[uuid.UUID]:
        """Write the rows gathered since the last call; answer the ids of those written."""
        ...

    async def finish(
        self, events: list[GatheredEvent], actors: Mapping[uuid.UUID, UserReplica]
    ) -> None:
        """Make the payloads of their numbered events, in order."""
        ...


class LiveWrites:
    """The live events of one unit of work's handlers, in the order they were gathered:
    numbered and written together just before it commits (three statements, plus the
    feed rows', for a batch of events instead of a few for each)."""

    def __init__(self, session: AsyncSession, kept: KeptReads | None = None) -> None:
        self.session = session
        # The people the batch's handlers read: actors found there are not read again.
        self.kept = kept
        self.gathered: list[GatheredEvent] = []
        self.feed: FeedRows | None = None

    def add(
        self,
        user_ids: Iterable[uuid.UUID],
        kind: str,
        payload: Mapping[str, Any],
        actor_id: uuid.UUID | None = None,
    ) -> None:
        """The same event for several users, in the order of their ids."""
        for user_id in sorted(set(user_ids)):
            self.gathered.append(GatheredEvent(user_id, kind, dict(payload), actor_id))

    def add_notification(
        self,
        feed: FeedRows,
        user_id: uuid.UUID,
        notification_id: uuid.UUID,
        actor_id: uuid.UUID | None,
    ) -> None:
        """The event of a feed row ``feed`` writes (kept only if the row is new)."""
        self.feed = feed
        event = GatheredEvent(user_id, rules.NOTIFICATION, {}, actor_id, notification_id)
        self.gathered.append(event)

    async def write(self) -> None:
        gathered, self.gathered = self.gathered, []
        new = await self.feed.write_new() if self.feed is not None else set()
        shown = [e for e in gathered if e.notification_id is None or e.notification_id in new]
        if not shown:
            return
        await number_events(self.session, shown)  # the users' rows locked from here
        actor_ids = {e.actor_id for e in shown if e.actor_id is not None}
        actors = await self._actors(actor_ids) if actor_ids else {}
        for event in shown:
            if event.actor_id is not None and event.notification_id is None:
                ref = person_ref(event.actor_id, actors.get(event.actor_id))
                event.payload["actor"] = ref.model_dump(mode="json")
        if self.feed is not None:
            notifications = [e for e in shown if e.notification_id is not None]
            await self.feed.finish(notifications, actors)
        await write_events(self.session, shown)

    async def _actors(self, actor_ids: set[uuid.UUID]) -> dict[uuid.UUID, UserReplica]:
        known = self.kept.people(actor_ids) if self.kept is not None else None
        return known if known is not None else await _people(self.session, actor_ids)


def _live_writes(uow: UnitOfWork) -> LiveWrites:
    return LiveWrites(uow.session, kept_reads(uow))


def live_writes(uow: UnitOfWork) -> LiveWrites:
    """The unit of work's live events, written when it commits."""
    return uow.gathered(_live_writes)


# Built once, their values bound (taskflow_chassis.bound's reason).
_PEOPLE = select(UserReplica).where(
    col(UserReplica.user_id).in_(bindparam("user_ids", expanding=True))
)


async def _people(session: AsyncSession, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, UserReplica]:
    found = await session.execute(_PEOPLE, {"user_ids": list(user_ids)})
    return {user.user_id: user for user in found.scalars()}


def _numbers_taken(insert_: Callable[[Table], Any]) -> Any:
    """A new user's row starts at its count, a known one's goes up by it; each row's user
    and last number returned. Rows as parameters, not as VALUES of the statement: its
    compiled form is cached whatever the number of users, and SQLAlchemy sends one INSERT
    with them all, in the given order (the rows name their user: no
    sort_by_parameter_order, which makes an upsert one statement a row)."""
    taken = insert_(_cursors)
    return taken.on_conflict_do_update(
        index_elements=[_cursors.c.user_id], set_={"seq": _cursors.c.seq + taken.excluded.seq}
    ).returning(_cursors.c.user_id, _cursors.c.seq)


# Built once (an upsert's ``excluded`` alias costs more to build than to run).
_NUMBERS_TAKEN = {
    "postgresql": _numbers_taken(postgresql.insert),
    "sqlite": _numbers_taken(sqlite.insert),
}


async def _take_numbers(
    session: AsyncSession, counts: Mapping[uuid.UUID, int]
) -> dict[uuid.UUID, int]:
    """Take ``counts[user]`` more numbers for each user, the users in the order of their ids
    (so two writers never wait for each other in a circle); answer each user's last one.
    The rows they are kept in stay locked until the caller's transaction ends, so a
    concurrent writer for the same user waits and numbers after.

    Where the database returns what an upsert wrote (PostgreSQL, SQLite), one statement
    for all of them: a new user's row starts at its count, a known one's goes up by it.
    Elsewhere (MariaDB) three statements a user."""
    users = sorted(counts)
    dialect = dialect_of_session(session)
    if dialect in _NUMBERS_TAKEN:
        rows = [{"user_id": user_id, "seq": counts[user_id]} for user_id in users]
        found = await session.execute(_NUMBERS_TAKEN[dialect], rows)
        return {user_id: int(seq) for user_id, seq in found.all()}
    numbers = {}
    for user_id in users:
        await session.execute(
            insert_or_ignore(dialect, LiveCursor, {"user_id": user_id, "seq": 0}, ["user_id"])
        )
        await session.execute(
            update(_cursors)
            .where(_cursors.c.user_id == user_id)
            .values(seq=_cursors.c.seq + counts[user_id])
        )
        found = await session.execute(select(_cursors.c.seq).where(_cursors.c.user_id == user_id))
        numbers[user_id] = int(found.scalar_one())
    return numbers


async def number_events(session: AsyncSession, events: list[GatheredEvent]) -> None:
    """Give each event its user's next number, in the list's order (each user's row locked
    until the caller's transaction ends: see ``_take_numbers``)."""
    last = await _take_numbers(session, Counter(event.user_id for event in events))
    for event in reversed(events):
        event.seq = last[event.user_id]
        last[event.user_id] -= 1


async def write_events(session: AsyncSession, events: list[GatheredEvent]) -> None:
    """The numbered events, in one statement."""
    if not events:
        return
    now = utcnow()
    await session.execute(
        sa_insert(_events),
        [
            {
                "user_id": event.user_id,
                "seq": event.seq,
                "kind": event.kind,
                "payload": event.payload,
                "created_at": now,
            }
            for event in events
        ],
    )


async def append(
    session: AsyncSession, user_id: uuid.UUID, kind: str, payload: Payload | PayloadFactory
) -> int:
    """One event for ``user_id``, in the caller's transaction; answers its number."""
    seq = (await _take_numbers(session, {user_id: 1}))[user_id]
    data = dict(payload) if isinstance(payload, Mapping) else dict(await payload())
    await session.execute(
        sa_insert(_events).values(
            user_id=user_id, seq=seq, kind=kind, payload=data, created_at=utcnow()
        )
    )
    return seq


async def newest(session: AsyncSession, user_id: uuid.UUID) -> int:
    """The user's last event number (0 before the first)."""
    found = await session.execute(select(_cursors.c.seq).where(_cursors.c.user_id == user_id))
    return int(found.scalar_one_or_none() or 0)


async def newest_of(session: AsyncSession, user_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Each user's last event number (0 before the first), a statement per
    ``WATCH_CHUNK`` users."""
    found: dict[uuid.UUID, int] = dict.fromkeys(user_ids, 0)
    watched = one_of(_cursors.c.user_id, "watched", dialect_of_session(session))
    statement = select(_cursors.c.user_id, _cursors.c.seq).where(watched)
    for start in range(0, len(user_ids), WATCH_CHUNK):
        rows = await session.execute(statement, {"watched": user_ids[start : start + WATCH_CHUNK]})
        found.update({row.user_id: int(row.seq) for row in rows})
    return found


async def after(
    session: AsyncSession, user_id: uuid.UUID, cursor: int, limit: int = BATCH
) -> list[LiveEvent]:
    found = await session.execute(
        select(LiveEvent)
        .where(_events.c.user_id == user_id, _events.c.seq > cursor)
        .order_by(_events.c.seq)
        .limit(limit)
    )
    return list(found.scalars())


async def prune(uow: UnitOfWork, before: datetime) -> int:
    """Drop the events written before ``before``: how many went."""
    result = await uow.session.execute(delete(_events).where(_events.c.created_at < before))
    await uow.commit()
    return rows_matched(result)


async def forget_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(delete(_events).where(_events.c.user_id == user_id))
    await session.execute(delete(_cursors).where(_cursors.c.user_id == user_id))


# --- one client's stream --------------------------------------------------------------


@dataclass(frozen=True)
class StreamOptions:
    heartbeat_seconds: float
    retry_ms: int

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> StreamOptions:
        return cls(
            heartbeat_seconds=settings.live_heartbeat_seconds,
            retry_ms=settings.live_retry_ms,
        )


class CursorWatch:
    """The newest event number of every user with a stream open in this process, read for
    all of them in one statement each poll interval: a stream reads its events only when
    its user's number has passed its cursor. Each stream polling its own rows cost a read
    of the database per stream twice a second, idle or not (a few hundred open pages took
    a core of notify and of PostgreSQL).

    A read that fails ends no stream: they stay open, with their heartbeats, and get what
    was written meanwhile once a read succeeds again (a stale pooled connection, met by
    one read for all of them, must not end every stream at once). A read that hangs holds
    no stream either: each waits for a reading at most a few poll intervals."""

    def __init__(self, database: Database, settings: NotifySettings) -> None:
        self.database = database
        self.settings = settings  # the interval is read at each pause: tests shorten it
        self._streams: Counter[uuid.UUID] = Counter()
        self._newest: dict[uuid.UUID, int] = {}
        self._reading: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        # Reads under way, the watch's and the streams': one whose client left goes on
        # (shielded), and notify's shutdown waits for it before the connections close.
        self._reads_under_way: set[asyncio.Future[Any]] = set()
        self._failing = False
        self._stopped = False

    def join(self, user_id: uuid.UUID) -> None:
        self._streams[user_id] += 1
        self._keep_running()

    def leave(self, user_id: uuid.UUID) -> None:
        self._streams[user_id] -= 1
        if self._streams[user_id] <= 0:
            del self._streams[user_id]

    def behind(self, user_id: uuid.UUID, cursor: int) -> bool:
        """Whether the last read found ``user_id``'s newest number past ``cursor`` (a user
        who joined after that read began: not yet known, so not)."""
        return self._newest.get(user_id, 0) > cursor

    async def next_reading(self) -> bool:
        """Wait for the next read of the numbers to end, or a few poll intervals at most
        (the stream's client and token are checked meanwhile); False once the watch has
        stopped (notify is shutting down)."""
        if self._stopped:
            return False
        self._keep_running()
        if self._reading is None:
            self._reading = asyncio.get_running_loop().create_future()
        # Shielded: a stream whose client goes must not cancel the others' wait.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._reading), self._longest_wait())
        return not self._stopped

    def track(self, read: asyncio.Future[Any]) -> None:
        self._reads_under_way.add(read)
        read.add_done_callback(self._reads_under_way.discard)

    def _longest_wait(self) -> float:
        return 2 * self.settings.live_poll_seconds + 0.1

    def _keep_running(self) -> None:
        if not self._stopped and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="live-cursor-watch")

    async def _run(self) -> None:
        while self._streams:
            # Shielded and tracked like a stream's read: ``stop`` cancels this task while
            # it waits, and the read ends its statement and gives its connection back.
            read = asyncio.ensure_future(self._read(list(self._streams)))
            self.track(read)
            await asyncio.shield(read)
            self._end_reading()
            await asyncio.sleep(self.settings.live_poll_seconds)

    async def _read(self, users: list[uuid.UUID]) -> None:
        try:
            async with self.database.read_sessionmaker() as session:
                self._newest = await newest_of(session, users)
        except Exception:  # told once a spell; the streams wait for the next read
            if not self._failing:
                logger.warning("live streams' event numbers cannot be read", exc_info=True)
            self._failing = True
            return
        if self._failing:
            logger.info("live streams' event numbers read again")
        self._failing = False

    def _end_reading(self) -> None:
        reading, self._reading = self._reading, None
        if reading is not None and not reading.done():
            reading.set_result(None)

    async def stop(self) -> None:
        """Ends the reads, and with them every stream; waits ``STOP_WAIT_SECONDS`` at most
        for the reads under way (the watch's and the streams') to give their connections
        back."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._end_reading()
        if self._reads_under_way:
            await asyncio.wait(self._reads_under_way, timeout=STOP_WAIT_SECONDS)


class Stream:
    """One client's stream of its user's events: ``open`` (before the answer starts, so a
    database away answers 503), then ``frames`` until the client goes or its token ends."""

    def __init__(
        self,
        database: Database,
        watch: CursorWatch,
        user_id: uuid.UUID,
        options: StreamOptions,
        greeting: Greeting,
    ) -> None:
        self.database = database
        self.watch = watch
        self.user_id = user_id
        self.options = options
        self.greeting = greeting
        self.cursor = 0

    async def open(self, last_event_id: str | None) -> list[str]:
        """The first frames: the retry hint, then for a new stream an ``unread`` event whose
        id is the cursor to resume from; for a cursor this stream cannot resume from (pruned,
        or never given), a ``reset``. A good cursor resumes right after it."""
        first = [rules.retry(self.options.retry_ms)]
        async with self.database.read_sessionmaker() as session:
            # The newest number first: every number up to it is committed, so a read of
            # the rows after it finds each one that was not pruned.
            latest = await newest(session, self.user_id)
            try:
                cursor = rules.parse_cursor(last_event_id)
            except ValueError:
                first.append(await self._reset(session, latest, "cursor-unknown"))
                return first
            if cursor is None:
                self.cursor = latest
                first.append(rules.frame(rules.UNREAD, await self.greeting(session), latest))
            elif cursor > latest:
                first.append(await self._reset(session, latest, "cursor-unknown"))
            elif cursor < latest and not await self._follows(session, cursor):
                first.append(await self._reset(session, latest, "cursor-expired"))
            else:
                self.cursor = cursor
        return first

    async def _follows(self, session: AsyncSession, cursor: int) -> bool:
        """Whether the event after ``cursor`` is still kept."""
        found = await after(session, self.user_id, cursor, 1)
        return bool(found) and found[0].seq == cursor + 1

    async def _reset(self, session: AsyncSession, latest: int, reason: str) -> str:
        """Events were lost to this client: it reloads what it shows, and resumes after
        ``latest``."""
        self.cursor = latest
        data = {"reason": reason, **(await self.greeting(session))}
        return rules.frame(rules.RESET, data, latest)

    async def _poll(self) -> tuple[list[LiveEvent], str | None]:
        """The events after the cursor; or, where some of them were pruned while the
        client lagged, the reset frame that replaces them."""
        async with self.database.read_sessionmaker() as session:
            rows = await after(session, self.user_id, self.cursor)
            if rows and rows[0].seq != self.cursor + 1:
                latest = await newest(session, self.user_id)
                return [], await self._reset(session, latest, "cursor-expired")
            return rows, None

    def _read_after_leaving(self, poll: asyncio.Future[Any]) -> None:
        """A read that failed after its client left has no one to tell: said here, not by
        asyncio as an exception never retrieved (with the stream there, it ends it too)."""
        if not poll.cancelled() and poll.exception() is not None:
            logger.debug("a live stream's read of %s failed: %s", self.user_id, poll.exception())

    async def _read(self) -> tuple[list[str], bool]:
        """The frames of the events after the cursor (which moves past them), or the reset
        that replaces them; and whether to read again at once (a full batch, a reset)."""
        # Shielded: a client that goes mid-read cancels the stream, not the read, which
        # ends and gives its connection back to the pool.
        poll = asyncio.ensure_future(self._poll())
        poll.add_done_callback(self._read_after_leaving)
        self.watch.track(poll)
        rows, reset = await asyncio.shield(poll)
        if reset is not None:
            return [reset], True
        texts = []
        for row in rows:
            self.cursor = row.seq
            texts.append(rules.frame(row.kind, row.payload, row.seq))
        return texts, len(rows) == BATCH

    async def frames(self, first: list[str], still_open: StillOpen) -> AsyncIterator[str]:
        for text in first:
            yield text
        quiet_since = time.monotonic()
        # Once at the start, for what was written since ``open``; then when the watch
        # finds the user's newest number past the cursor.
        read_now = True
        self.watch.join(self.user_id)
        try:
            while await still_open():
                if read_now:
                    texts, read_now = await self._read()
                    for text in texts:
                        yield text
                    if texts:
                        quiet_since = time.monotonic()
                    if read_now:
                        continue
                if time.monotonic() - quiet_since >= self.options.heartbeat_seconds:
                    quiet_since = time.monotonic()
                    yield rules.HEARTBEAT
                if not await self.watch.next_reading():
                    return  # notify is stopping: the client reconnects to another
                read_now = self.watch.behind(self.user_id, self.cursor)
        except (SQLAlchemyError, OSError) as exc:
            # The client reconnects after the retry hint and resumes from its last id.
            logger.warning("live stream of %s ended: %s", self.user_id, exc)
        finally:
            self.watch.leave(self.user_id)


def still_open(request: Request, claims: TokenClaims) -> StillOpen:
    """While the client is connected and its token valid: neither expired nor revoked
    (auth's revocations reach every process; a stream ends at the next poll)."""
    checks: list[TokenCheck] = getattr(request.app.state, "token_checks", [])

    async def check() -> bool:
        if time.time() >= claims.exp or await request.is_disconnected():
            return False
        try:
            for token_check in checks:
                await token_check(claims)
        except InvalidToken:
            return False
        return True

    return check
