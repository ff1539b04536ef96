"""The memberships replicas rebuild themselves from (work's), read as teams holds them."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from taskflow_teams.access import team_not_found
from taskflow_teams.internal.schemas import MemberGrant, TeamMemberships, TeamSeq, TeamSeqPage
from taskflow_teams.teams.models import Membership, Role, Team

_teams = Team.__table__  # type: ignore[attr-defined]
_members = Membership.__table__  # type: ignore[attr-defined]
_roles = Role.__table__  # type: ignore[attr-defined]

# One statement, so one snapshot: the members are exactly those of the seq read with them.
_MEMBERSHIPS = (
    select(
        _teams.c.name,
        _teams.c.membership_seq,
        _members.c.user_id,
        _roles.c.id.label("role_id"),
        _roles.c.name.label("role_name"),
        _roles.c.permissions,
    )
    .select_from(
        _teams.outerjoin(_members, _members.c.team_id == _teams.c.id).outerjoin(
            _roles, _roles.c.id == _members.c.role_id
        )
    )
    .order_by(_members.c.user_id)
)


async def team_memberships(session: AsyncSession, team_id: uuid.UUID) -> TeamMemberships:
    rows = (await session.execute(_MEMBERSHIPS.where(_teams.c.id == team_id))).all()
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
    query = select(_teams.c.id, _teams.c.membership_seq).order_by(_teams.c.id).limit(limit)
    if after is not None:
        query = query.where(_teams.c.id > after)
    rows = (await session.execute(query)).all()
    items = [TeamSeq(team_id=row.id, seq=row.membership_seq) for row in rows]
    return TeamSeqPage(items=items, next_after=items[-1].team_id if len(items) == limit else None)
