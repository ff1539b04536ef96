"""Putting a team of the replica back in step with teams, its source of truth.

A resync reads the team's memberships from teams' internal API (one statement
there: the members as of one sequence number) and, in one transaction here that
holds the team's replica row, replaces the team's member rows with them, stores
the sequence number and clears ``resync_needed``; only if teams' number is not
behind the replica's (an event newer than the answer was applied meanwhile: the
next pass asks again), unless forced (``replica rebuild --restore``: teams is the
truth even if its numbers went back, say after a restore of its database). A member
the resync drops leaves the team's tasks, as MemberRemoved would make them
(``Departures``).

People's names (``Person``) come from auth's events, which began to fill them only when
work started keeping names: ``ReplicaSync.fill_people`` pages through the names teams
holds (its directory, kept from the same events from the start) and adds the people work
does not know; a person work knows takes teams' names only where teams changed them after
work did (an event lost here), never where work applied a newer event than teams has yet.
It erases nothing: a deleted account is forgotten by auth's event alone, so one deleted
here in the instant between teams' answer and teams applying the same deletion would
come back with its names (teams' listing is read, not locked).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.db import Database, dialect_of_session, insert_or_ignore
from taskflow_chassis.pump import mark_session
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

from taskflow_work.replica.adapters import PersonNames, TeamsApi, TeamSnapshot
from taskflow_work.replica.models import MemberReplica, Person, TeamReplica

logger = logging.getLogger("taskflow.work.replica")

_team_rows = table_of(TeamReplica)
_member_rows = table_of(MemberReplica)

# The flag a session carries when its commit leaves a team needing a resync: it wakes
# the reconciler (taskflow_chassis.pump).
RESYNC_FLAG = "taskflow_work_replica_resync"


@dataclass(frozen=True)
class Departures:
    """What ends elsewhere in work when the replica loses a member or a team: a member's
    assignments (in one team, or in every team: ``None``), a deleted team's projects. The
    composition root supplies them, so the replica knows nothing of tasks or projects."""

    member_left: Callable[[UnitOfWork, uuid.UUID, uuid.UUID | None], Awaitable[None]]
    team_deleted: Callable[[UnitOfWork, uuid.UUID], Awaitable[None]]


async def hold_team(session: AsyncSession, team_id: uuid.UUID, name: str = "") -> TeamReplica:
    """The team's replica row, created if missing, held (row lock) until commit: event
    handlers and resyncs of one team run one after the other. SQLite takes no row lock,
    but runs one writer at a time."""
    await session.execute(
        insert_or_ignore(
            dialect_of_session(session),
            TeamReplica,
            {
                "team_id": team_id,
                "name": name,
                "updated_at": utcnow(),
                "membership_seq": 0,
                "resync_needed": False,
            },
            ["team_id"],
        )
    )
    query = (
        select(TeamReplica)
        .where(col(TeamReplica.team_id) == team_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(query)).scalar_one()


async def mark_resync(session: AsyncSession, team: TeamReplica) -> None:
    """Stop trusting the team's rows until a resync, and wake the reconciler on commit."""
    team.resync_needed = True
    session.add(team)
    await session.execute(
        update(_member_rows)
        .where(_member_rows.c.team_id == team.team_id)
        .values(resync_needed=True)
    )
    mark_session(session, RESYNC_FLAG)


@dataclass
class ResyncResult:
    team_id: uuid.UUID
    # "resynced", "gone" (teams has no such team), "behind" (teams' answer older: kept)
    outcome: str
    seq_before: int | None
    seq_after: int | None
    added: list[uuid.UUID] = field(default_factory=list)
    removed: list[uuid.UUID] = field(default_factory=list)
    changed: list[uuid.UUID] = field(default_factory=list)

    @property
    def altered(self) -> bool:
        return bool(self.added or self.removed or self.changed) or self.seq_before != self.seq_after

    def describe(self) -> str:
        if self.outcome == "gone":
            return (
                f"team {self.team_id}: gone from teams, {len(self.removed)} member row(s) removed"
            )
        if self.outcome == "behind":
            return (
                f"team {self.team_id}: teams' seq {self.seq_after} is behind the replica's"
                f" {self.seq_before}; kept"
            )
        return (
            f"team {self.team_id}: seq {self.seq_before} -> {self.seq_after},"
            f" +{len(self.added)} -{len(self.removed)} ~{len(self.changed)} member(s)"
        )


async def apply_snapshot(
    uow: UnitOfWork,
    team_id: uuid.UUID,
    snapshot: TeamSnapshot | None,
    departures: Departures,
    *,
    force: bool = False,
) -> ResyncResult:
    """Make the team's rows teams' answer (``None``: teams has no such team), in the
    caller's unit of work."""
    session = uow.session
    if snapshot is None:
        return await _forget_team(session, team_id)
    team = await hold_team(session, team_id, snapshot.name)
    before = team.membership_seq
    if snapshot.seq < before and not force:
        return ResyncResult(team_id, "behind", before, snapshot.seq)
    # Read under the team's lock: no event of this team changes them until commit.
    current = {row.user_id: row for row in await _member_rows_of(session, team_id)}
    wanted = {member.user_id: member for member in snapshot.members}
    result = ResyncResult(
        team_id,
        "resynced",
        before,
        snapshot.seq,
        added=[u for u in wanted if u not in current],
        removed=[u for u in current if u not in wanted],
        changed=[
            u
            for u, m in wanted.items()
            if u in current and _differs(current[u], m.role_id, m.role_name, m.permissions)
        ],
    )
    now = utcnow()
    await _replace_member_rows(session, team_id, snapshot, now)
    team.name = snapshot.name
    team.membership_seq = snapshot.seq
    team.resync_needed = False
    team.updated_at = now
    session.add(team)
    for user_id in result.removed:
        await departures.member_left(uow, user_id, team_id)
    return result


async def _forget_team(session: AsyncSession, team_id: uuid.UUID) -> ResyncResult:
    held = (
        await session.execute(
            select(_team_rows.c.membership_seq)
            .where(_team_rows.c.team_id == team_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    gone = await _member_rows_of(session, team_id)
    await session.execute(delete(_member_rows).where(_member_rows.c.team_id == team_id))
    await session.execute(delete(_team_rows).where(_team_rows.c.team_id == team_id))
    return ResyncResult(team_id, "gone", held, None, removed=[r.user_id for r in gone])


async def _replace_member_rows(
    session: AsyncSession, team_id: uuid.UUID, snapshot: TeamSnapshot, now: datetime
) -> None:
    await session.execute(delete(_member_rows).where(_member_rows.c.team_id == team_id))
    if not snapshot.members:
        return
    await session.execute(
        insert(_member_rows),
        [
            {
                "team_id": team_id,
                "user_id": m.user_id,
                "role_id": m.role_id,
                "role_name": m.role_name,
                "permissions": " ".join(sorted(m.permissions)),
                "from_event": True,
                "resync_needed": False,
                "updated_at": now,
            }
            for m in snapshot.members
        ],
    )


async def _member_rows_of(session: AsyncSession, team_id: uuid.UUID) -> list[Row[*tuple[Any, ...]]]:
    query = select(
        _member_rows.c.user_id,
        _member_rows.c.role_id,
        _member_rows.c.role_name,
        _member_rows.c.permissions,
        _member_rows.c.from_event,
        _member_rows.c.resync_needed,
    ).where(_member_rows.c.team_id == team_id)
    return list((await session.execute(query)).all())


def _differs(
    row: Row[*tuple[Any, ...]], role_id: uuid.UUID, role_name: str, permissions: frozenset[str]
) -> bool:
    return bool(
        row.role_id != role_id
        or row.role_name != role_name
        or frozenset(row.permissions.split()) != permissions
        or not row.from_event
        or row.resync_needed
    )


async def teams_needing_resync(database: Database, limit: int | None = None) -> list[uuid.UUID]:
    query = (
        select(_team_rows.c.team_id)
        .where(_team_rows.c.resync_needed.is_(True))
        .order_by(_team_rows.c.updated_at)
    )
    if limit is not None:
        query = query.limit(limit)
    async with database.read_sessionmaker() as session:
        return list((await session.execute(query)).scalars())


async def seqs_of(database: Database, team_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The seqs of those of ``team_ids`` the replica knows: a team known only from member
    rows (its TeamCreated never came) counts 0."""
    if not team_ids:
        return {}
    async with database.read_sessionmaker() as session:
        seqs: dict[uuid.UUID, int] = {
            team_id: seq
            for team_id, seq in (
                await session.execute(
                    select(_team_rows.c.team_id, _team_rows.c.membership_seq).where(
                        _team_rows.c.team_id.in_(team_ids)
                    )
                )
            ).all()
        }
        members_only = (
            await session.execute(
                select(_member_rows.c.team_id)
                .distinct()
                .where(_member_rows.c.team_id.in_([t for t in team_ids if t not in seqs]))
            )
        ).scalars()
    return seqs | dict.fromkeys(members_only, 0)


async def known_team_ids(
    database: Database, page_size: int = 500
) -> AsyncIterator[list[uuid.UUID]]:
    """Every team the replica knows (a row of its own or member rows), a page at a time,
    in this database's order of ids."""
    after: uuid.UUID | None = None
    while True:
        # The bound inside each half, so each is a range scan of a primary key.
        ids = union(
            _above(_team_rows.c.team_id, after), _above(_member_rows.c.team_id, after)
        ).subquery()
        query = select(ids.c.team_id).order_by(ids.c.team_id).limit(page_size)
        async with database.read_sessionmaker() as session:
            page = list((await session.execute(query)).scalars())
        if page:
            yield page
        if len(page) < page_size:
            return
        after = page[-1]


def _above(column: Any, after: uuid.UUID | None) -> Any:
    query = select(column)
    return query if after is None else query.where(column > after)


@dataclass
class ReconcileReport:
    compared: int = 0
    results: list[ResyncResult] = field(default_factory=list)
    failures: list[tuple[uuid.UUID, str]] = field(default_factory=list)


@dataclass
class PeopleReport:
    compared: int = 0
    added: int = 0
    renamed: int = 0

    def describe(self) -> str:
        return (
            f"{self.compared} people compared, {self.added} added,"
            f" {self.renamed} renamed from teams"
        )


async def apply_people(session: AsyncSession, people: list[PersonNames]) -> tuple[int, int]:
    """Fill work's people from a page of teams' names: (how many added, how many renamed).

    A person an event adds meanwhile is left as the event made it (insert or ignore; still
    counted as added)."""
    known = {
        person.user_id: person
        for person in (
            await session.execute(
                select(Person).where(col(Person.user_id).in_([p.user_id for p in people]))
            )
        ).scalars()
    }
    added = renamed = 0
    now = utcnow()
    for names in people:
        person = known.get(names.user_id)
        if person is None:
            values = {
                "user_id": names.user_id,
                "username": names.username,
                "display_name": names.display_name,
                "updated_at": now,
            }
            await session.execute(
                insert_or_ignore(dialect_of_session(session), Person, values, ["user_id"])
            )
            added += 1
        elif (person.username, person.display_name) != (names.username, names.display_name) and (
            names.updated_at > person.updated_at
        ):
            person.username, person.display_name, person.updated_at = (
                names.username,
                names.display_name,
                now,
            )
            session.add(person)
            renamed += 1
    return added, renamed


@dataclass(frozen=True)
class ReplicaSync:
    """Resyncs teams of the replica from teams' internal API (``TeamsUnavailable`` when
    teams cannot answer); each team in one unit of work."""

    database: Database
    teams: TeamsApi
    departures: Departures
    publisher: Publisher

    async def resync_team(self, team_id: uuid.UUID, *, force: bool = False) -> ResyncResult:
        """Ask teams, then apply its answer in one transaction."""
        snapshot = await self.teams.memberships(team_id)
        async with self.database.session() as session:
            uow = UnitOfWork(session, self.publisher)
            result = await apply_snapshot(uow, team_id, snapshot, self.departures, force=force)
            await uow.commit()
        if result.outcome == "behind":
            logger.info("replica resync of team %s deferred: %s", team_id, result.describe())
        elif result.altered:
            logger.info("replica resync: %s", result.describe())
        return result

    async def fill_people(self, page_size: int = 500) -> PeopleReport:
        """Page through the names teams holds, each page in one transaction here
        (``TeamsUnavailable`` if teams cannot answer)."""
        report = PeopleReport()
        async for page in self.teams.people(page_size):
            async with self.database.session() as session:
                uow = UnitOfWork(session, self.publisher)
                added, renamed = await apply_people(session, page)
                await uow.commit()
            report.compared += len(page)
            report.added += added
            report.renamed += renamed
        if report.added or report.renamed:
            logger.info("replica people: %s", report.describe())
        return report

    async def reconcile(
        self,
        *,
        everything: bool = False,
        force: bool = False,
        only: Iterable[uuid.UUID] | None = None,
        page_size: int = 500,
    ) -> ReconcileReport:
        """Compare every team's seq with teams' and resync those behind (and those teams no
        longer has). ``everything`` resyncs every team whatever its seq (rebuild), still
        never applying an answer older than the replica unless ``force`` (a restore of
        teams' database took its numbers back); ``only`` limits that to the teams given.
        ``TeamsUnavailable`` if the list cannot be read; a team that fails alone is
        reported and the pass goes on."""
        report = ReconcileReport()
        if only is not None:
            for team_id in only:
                report.compared += 1
                await self._sync(report, team_id, force)
            return report
        listed = await self._sync_listed(report, everything, force, page_size)
        report.compared = len(listed)
        await self._sync_unlisted(report, listed, force, page_size)
        return report

    async def _sync(self, report: ReconcileReport, team_id: uuid.UUID, force: bool) -> None:
        try:
            report.results.append(await self.resync_team(team_id, force=force))
        except Exception as exc:  # one team's failure must not stop the pass for the others
            logger.warning("resync of team %s failed: %s", team_id, exc)
            report.failures.append((team_id, f"{type(exc).__name__}: {exc}"))

    async def _sync_listed(
        self, report: ReconcileReport, everything: bool, force: bool, page_size: int
    ) -> set[uuid.UUID]:
        """Resync the teams teams lists whose seq is ahead of ours: every id it listed.

        Teams' pages come in teams' database order of ids, which need not be this one's
        (MariaDB sorts UUIDs its own way): each page is compared by its ids."""
        listed: set[uuid.UUID] = set()
        async for items in self.teams.team_seqs(page_size):
            theirs = dict(items)
            listed |= theirs.keys()
            ours = await seqs_of(self.database, list(theirs))
            for team_id, seq in theirs.items():
                if everything or seq > ours.get(team_id, 0):
                    await self._sync(report, team_id, force)
        return listed

    async def _sync_unlisted(
        self, report: ReconcileReport, listed: set[uuid.UUID], force: bool, page_size: int
    ) -> None:
        """Resync the teams only the replica knows: deleted in teams (or created since it
        was listed)."""
        async for page in known_team_ids(self.database, page_size):
            for team_id in page:
                if team_id not in listed:
                    report.compared += 1
                    await self._sync(report, team_id, force)


async def upsert_person(
    session: AsyncSession,
    user_id: uuid.UUID,
    username: str,
    display_name: str | None,
    sets_display_name: bool,
) -> None:
    """Keep a person's names; ``display_name`` replaces the known one only when
    ``sets_display_name`` (the participant events carry it, the user events do not)."""
    person = await session.get(Person, user_id)
    if person is None:
        person = Person(user_id=user_id, username=username)
    person.username, person.updated_at = username, utcnow()
    if sets_display_name:
        person.display_name = display_name
    session.add(person)
