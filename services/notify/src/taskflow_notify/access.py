"""The one authorization dependency of notify's team routes (the webhooks): who may do what
in a team, from the replica of teams' memberships (member.joined, member.role_changed,
role.updated).

A caller who is not an active member of the team, or whose team is deleted, gets 404 (the
team's existence is not theirs to learn); a member whose role lacks the permission 403.
Permissions are the catalogue's strings, as the member's role carries them. A row from
before notify kept permissions has none until the backfill fills it from teams
(replica/scheduled.py); until then, 503 (no request waits on teams).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.problems import ProblemError, forbidden, not_found
from taskflow_chassis.security import CurrentUserId
from taskflow_contracts import permissions as P

from taskflow_notify.replica.models import MemberReplica, TeamReplica


@dataclass(frozen=True)
class TeamAccess:
    team_id: uuid.UUID
    user_id: uuid.UUID
    permissions: frozenset[str]

    def ensure_can(self, permission: str | None) -> None:
        if permission is not None and permission not in self.permissions:
            raise forbidden(permission)


def team_not_found() -> ProblemError:
    return not_found("Team", "No team with this id has you as a member.")


async def load_access(
    session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[TeamAccess, bool]:
    """The caller's access, and whether its permissions are known (a row from before
    notify kept them is not)."""
    row = (
        await session.execute(
            select(MemberReplica)
            .outerjoin(TeamReplica, col(TeamReplica.team_id) == MemberReplica.team_id)
            .where(
                col(MemberReplica.team_id) == team_id,
                col(MemberReplica.user_id) == user_id,
                col(MemberReplica.active).is_(True),
                col(TeamReplica.deleted_at).is_(None),
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise team_not_found()
    access = TeamAccess(team_id=team_id, user_id=user_id, permissions=row.permissions)
    return access, row.permission_list is not None


def permissions_pending() -> ProblemError:
    return ProblemError(
        503,
        "Membership unavailable",
        "Your permissions in this team are being loaded from teams; try again shortly.",
        type="membership-unavailable",
        headers={"Retry-After": "5"},
    )


def requires(permission: str | None = None) -> Any:
    """``Depends`` giving the caller's TeamAccess for ``{team_id}``, checked for ``permission``."""

    async def dependency(
        team_id: uuid.UUID, user_id: CurrentUserId, session: SessionDep
    ) -> TeamAccess:
        access, known = await load_access(session, team_id, user_id)
        if not known:
            raise permissions_pending()
        access.ensure_can(permission)
        return access

    return Depends(dependency)


CanManageWebhooks = Annotated[TeamAccess, requires(P.WEBHOOKS_MANAGE)]
