"""The memberships and people's names replicas rebuild themselves from (work's), read as
teams holds them."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from taskflow_teams.access import team_not_found
from taskflow_teams.internal import queries
from taskflow_teams.internal.schemas import (
    MemberGrant,
    PeoplePage,
    PersonNames,
    TeamMemberships,
    TeamSeq,
    TeamSeqPage,
)


async def team_memberships(session: AsyncSession, team_id: uuid.UUID) -> TeamMemberships:
    rows = (await session.execute(queries.memberships_of(team_id))).all()
    if not rows:
        raise team_not_found()
    first = rows[0]
    return TeamMemberships(
        team_id=team_id,
        name=first.name,
        seq=first.membership_seq,
        members=[
            MemberGrant(
                user_id=row.user_id,
                role_id=row.role_id,
                role_name=row.role_name,
                permissions=sorted(row.permissions.split()),
            )
            for row in rows
            if row.user_id is not None
        ],
    )


async def team_seqs(session: AsyncSession, after: uuid.UUID | None, limit: int) -> TeamSeqPage:
    """Every team's sequence number, by team id (keyset: pass the last id as ``after``)."""
    rows = (await session.execute(queries.team_seqs(after, limit))).all()
    items = [TeamSeq(team_id=row.id, seq=row.membership_seq) for row in rows]
    return TeamSeqPage(items=items, next_after=items[-1].team_id if len(items) == limit else None)


async def people(session: AsyncSession, after: uuid.UUID | None, limit: int) -> PeoplePage:
    """Everyone's names, by user id (keyset: pass the last id as ``after``)."""
    rows = (await session.execute(queries.people(after, limit))).all()
    items = [
        PersonNames(
            user_id=row.user_id,
            username=row.username,
            display_name=row.display_name,
            updated_at=row.updated_at,
        )
        for row in rows
    ]
    return PeoplePage(items=items, next_after=items[-1].user_id if len(items) == limit else None)
