"""The one authorization dependency of work: membership and permissions per team.

Answers come from the local replica of teams' memberships (kept from events).
When the replica does not know the caller in a team yet (they joined a moment
ago and the event is on its way), teams is asked once over HTTP with the
caller's own token, and the answer is cached in the replica until the event
lands. While a team's events came with a gap (``resync_needed``, on each of its
rows), no row of that team is trusted and nothing is cached for it: every access
asks teams, until the reconciler has resynced the team. A non-member gets 404
for the team's resources; a member without the permission gets 403.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends, Request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.db import Database
from taskflow_chassis.problems import ProblemError
from taskflow_chassis.security import CurrentClaims, bearer_token
from taskflow_chassis.types import utcnow

from taskflow_work.replica.models import MemberReplica, TeamReplica

logger = logging.getLogger("taskflow.work.access")


@dataclass(frozen=True)
class Caller:
    user_id: uuid.UUID
    token: str


async def current_caller(request: Request, claims: CurrentClaims) -> Caller:
    return Caller(user_id=claims.user_id, token=await bearer_token(request))


CallerDep = Annotated[Caller, Depends(current_caller)]


@dataclass(frozen=True)
class MemberAccess:
    team_id: uuid.UUID
    user_id: uuid.UUID
    role_name: str
    permissions: frozenset[str]

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise ProblemError(
                403,
                "Permission required",
                f"Your role in this team does not grant {permission}.",
                type="permission-required",
                permission=permission,
            )


def not_found(what: str) -> ProblemError:
    slug = what.lower().replace(" ", "-")
    return ProblemError(
        404,
        f"{what} not found",
        f"No {what.lower()} with this id is visible to you.",
        type=f"{slug}-not-found",
    )


class Authorizer:
    """Looks memberships up in the replica, reading through to teams when it has none."""

    def __init__(
        self, database: Database, teams: httpx.AsyncClient | None, *, cache_seconds: float = 60.0
    ) -> None:
        self.database = database
        self.teams = teams
        self.cache_seconds = cache_seconds

    async def access(
        self, session: AsyncSession, team_id: uuid.UUID, caller: Caller
    ) -> MemberAccess | None:
        row = await session.get(MemberReplica, (team_id, caller.user_id))
        return await self.access_from(row, team_id, caller)

    async def access_from(
        self, row: MemberReplica | None, team_id: uuid.UUID, caller: Caller
    ) -> MemberAccess | None:
        """The caller's access given their replica row, read along with the resource."""
        if row is not None and not row.resync_needed and (row.from_event or not self._stale(row)):
            return MemberAccess(team_id, caller.user_id, row.role_name, row.permissions)
        return await self._read_through(team_id, caller)

    def _stale(self, row: MemberReplica) -> bool:
        # A read-through answer is only trusted briefly: had the removal event been
        # handled before the answer was cached, nothing else would ever clear it.
        return (utcnow() - row.updated_at).total_seconds() > self.cache_seconds

    async def _read_through(self, team_id: uuid.UUID, caller: Caller) -> MemberAccess | None:
        if self.teams is None:
            return None
        seq_before = await self._team_seq(team_id)
        try:
            response = await self.teams.get(
                f"/api/v1/teams/{team_id}/members/me",
                headers={"Authorization": f"Bearer {caller.token}"},
            )
        except httpx.HTTPError as exc:
            logger.warning("membership read-through to teams failed: %s", exc)
            raise ProblemError(
                503,
                "Membership unavailable",
                "Your team membership could not be checked just now; try again shortly.",
                type="membership-unavailable",
                headers={"Retry-After": "2"},
            ) from exc
        if response.status_code in {401, 403, 404}:
            await self._forget(team_id, caller.user_id)
            return None
        if response.status_code != 200:
            raise ProblemError(
                503,
                "Membership unavailable",
                "The teams service did not answer.",
                type="membership-unavailable",
            )
        body = response.json()
        access = MemberAccess(
            team_id, caller.user_id, str(body["role_name"]), frozenset(body["permissions"])
        )
        await self._remember(access, uuid.UUID(str(body["role_id"])), seq_before)
        return access

    async def _team_seq(self, team_id: uuid.UUID) -> int | None:
        async with self.database.read_sessionmaker() as session:
            seq: int | None = (
                await session.execute(
                    select(TeamReplica.membership_seq).where(TeamReplica.team_id == team_id)  # type: ignore[arg-type]
                )
            ).scalar_one_or_none()
            return seq

    async def _remember(
        self, access: MemberAccess, role_id: uuid.UUID, seq_before: int | None
    ) -> None:
        """Cache the answer in its own transaction; the teams event, when it lands, wins."""
        async with self.database.session() as session:
            team = (
                await session.execute(
                    select(TeamReplica)
                    .where(TeamReplica.team_id == access.team_id)  # type: ignore[arg-type]
                    .with_for_update()
                )
            ).scalar_one_or_none()
            if team is not None and team.resync_needed:
                return  # nothing of this team is trusted until its resync: ask every time
            if (team.membership_seq if team is not None else None) != seq_before:
                # A membership event landed while teams answered: the answer may be older
                # than a removal now applied, so it is not kept (the next request asks again).
                return
            row = await session.get(MemberReplica, (access.team_id, access.user_id))
            if row is not None and row.from_event:
                return
            row = row or MemberReplica(
                team_id=access.team_id, user_id=access.user_id, role_id=role_id, role_name=""
            )
            row.role_id, row.role_name = role_id, access.role_name
            row.permission_list = " ".join(sorted(access.permissions))
            row.from_event, row.updated_at = False, utcnow()
            session.add(row)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()  # the event landed meanwhile: keep its row

    async def _forget(self, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Drop a stale read-through answer that teams no longer confirms."""
        async with self.database.session() as session:
            await session.execute(
                delete(MemberReplica).where(
                    MemberReplica.team_id == team_id,  # type: ignore[arg-type]
                    MemberReplica.user_id == user_id,  # type: ignore[arg-type]
                    MemberReplica.from_event.is_(False),  # type: ignore[attr-defined]
                )
            )
            await session.commit()

    async def member(
        self, session: AsyncSession, team_id: uuid.UUID, caller: Caller, what: str
    ) -> MemberAccess:
        """The caller's access to a team, or 404 naming the resource they asked for."""
        return self._found(await self.access(session, team_id, caller), what)

    async def member_from(
        self, row: MemberReplica | None, team_id: uuid.UUID, caller: Caller, what: str
    ) -> MemberAccess:
        return self._found(await self.access_from(row, team_id, caller), what)

    @staticmethod
    def _found(access: MemberAccess | None, what: str) -> MemberAccess:
        if access is None:
            raise not_found(what)
        return access

    async def my_team_ids(self, session: AsyncSession, caller: Caller) -> list[uuid.UUID]:
        """The teams the caller is a member of; one waiting for a resync is asked of teams."""
        rows = await session.execute(
            select(MemberReplica).where(MemberReplica.user_id == caller.user_id)  # type: ignore[arg-type]
        )
        team_ids = []
        for row in rows.scalars().all():
            # A row of a team waiting for its resync, or an old read-through answer, is
            # asked of teams again, as a direct request for one of the team's resources is.
            trusted = not row.resync_needed and (row.from_event or not self._stale(row))
            if trusted or await self._read_through(row.team_id, caller) is not None:
                team_ids.append(row.team_id)
        return team_ids


async def get_authorizer(request: Request) -> Authorizer:
    authorizer: Authorizer = request.app.state.authorizer
    return authorizer


AuthorizerDep = Annotated[Authorizer, Depends(get_authorizer)]
