"""The backfill of members' permissions: memberships applied before notify kept them
(replica rows from before migration 0010, permissions NULL) are filled from teams, a team
at a time, on a timer, until none is left; then each pass is one query that finds nothing.

Why a backfill and not a read-through on the request: no request of a user then waits on
teams, or fails with it. Until a member's row is filled, a route that checks a permission
answers 503 (try again shortly). A member teams no longer lists is left inactive (404, as
for any non-member); an event of theirs that comes later applies as usual (its number is
newer than the row's). An event's answer is never replaced: only rows still NULL are
filled, in the same transaction that reads them.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import select
from sqlmodel import col
from taskflow_chassis.db import Database
from taskflow_chassis.periodic import PeriodicJob
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

from taskflow_notify.replica.adapters import Grant, TeamsGrants, TeamsUnavailable
from taskflow_notify.replica.models import MemberReplica

logger = logging.getLogger("taskflow.notify.replica")

# Teams asked in one pass.
TEAMS_PER_PASS = 50


async def fill_team(
    uow: UnitOfWork, team_id: uuid.UUID, members: dict[uuid.UUID, Grant] | None
) -> int:
    """Fill the team's rows still without permissions from teams' answer (None: the team is
    gone); how many rows were settled."""
    rows = (
        await uow.session.execute(
            select(MemberReplica)
            .where(
                col(MemberReplica.team_id) == team_id,
                col(MemberReplica.permission_list).is_(None),
            )
            .with_for_update()
        )
    ).scalars()
    settled = 0
    for row in rows:
        grant = (members or {}).get(row.user_id)
        if grant is None:
            row.active = False  # not a member in teams: a non-member here too
        else:
            row.role_id, row.permission_list = grant.role_id, " ".join(sorted(grant.permissions))
        uow.session.add(row)
        settled += 1
    await uow.commit()
    return settled


class PermissionBackfill:
    def __init__(
        self, database: Database, grants: TeamsGrants, publisher: Publisher, interval: float
    ) -> None:
        self.database = database
        self.grants = grants
        self.publisher = publisher
        self.interval = interval
        self._timer: PeriodicJob | None = None

    async def waiting_teams(self) -> list[uuid.UUID]:
        async with self.database.read_sessionmaker() as session:
            found = await session.execute(
                select(col(MemberReplica.team_id))
                .where(
                    col(MemberReplica.permission_list).is_(None),
                    col(MemberReplica.active).is_(True),
                )
                .distinct()
                .limit(TEAMS_PER_PASS)
            )
            return list(found.scalars())

    async def run_once(self) -> int:
        """One pass: the members' rows settled. Teams away: nothing now, the next pass."""
        settled = 0
        for team_id in await self.waiting_teams():
            try:
                members = await self.grants.members(team_id)
            except TeamsUnavailable as exc:
                logger.warning("permissions backfill: %s; trying again in %gs", exc, self.interval)
                break
            async with self.database.session() as session:
                settled += await fill_team(UnitOfWork(session, self.publisher), team_id, members)
        return settled

    def start(self) -> None:
        if self._timer is None:
            self._timer = PeriodicJob(
                "permissions-backfill",
                self.run_once,
                interval=self.interval,
                logger=logger,
                what="filling members' permissions from teams",
                done="filled the permissions of %s member(s) from teams",
            )
        self._timer.start()

    async def stop(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            await timer.stop()
