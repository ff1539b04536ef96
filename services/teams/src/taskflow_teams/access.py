"""The one authorization dependency: who may do what in a team.

A caller who is not a member of the team gets 404 for it (its existence is not
theirs to learn); a member without the permission gets 403. Permissions are the
catalogue's strings, carried by the member's role; no code compares role names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.deps import SessionDep
from taskflow_chassis.problems import ProblemError
from taskflow_chassis.security import CurrentUserId
from taskflow_contracts import permissions as P

from taskflow_teams.teams.models import Membership, Role, Team


@dataclass
class TeamAccess:
    team: Team
    membership: Membership
    role: Role
    user_id: uuid.UUID

    @property
    def permissions(self) -> frozenset[str]:
        return self.role.permissions

    def can(self, permission: str) -> bool:
        return permission in self.permissions


def team_not_found() -> ProblemError:
    return ProblemError(
        404, "Team not found", "No team with this id has you as a member.", type="team-not-found"
    )


def forbidden(permission: str) -> ProblemError:
    return ProblemError(
        403,
        "Permission required",
        f"Your role in this team does not grant {permission}.",
        type="permission-required",
        permission=permission,
    )


def ensure_within(access: TeamAccess, permissions: Iterable[str]) -> None:
    """Nobody hands out (by invitation, role edit or role change) rights they lack."""
    missing = sorted(set(permissions) - access.permissions)
    if missing:
        raise ProblemError(
            403,
            "Cannot grant permissions you lack",
            "That role holds permissions your own role does not: " + ", ".join(missing) + ".",
            type="permission-escalation",
            permissions=missing,
        )


async def load_access(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> TeamAccess:
    row = (
        await session.execute(
            select(Team, Membership, Role)
            .join(Membership, Membership.team_id == Team.id)  # type: ignore[arg-type]
            .join(Role, Role.id == Membership.role_id)  # type: ignore[arg-type]
            .where(Team.id == team_id, Membership.user_id == user_id)  # type: ignore[arg-type]
        )
    ).first()
    if row is None:
        raise team_not_found()
    team, membership, role = row
    return TeamAccess(team=team, membership=membership, role=role, user_id=user_id)


def requires(permission: str | None = None) -> Any:
    """``Depends`` giving the caller's TeamAccess for ``{team_id}``, checked for ``permission``."""

    async def dependency(
        team_id: uuid.UUID, user_id: CurrentUserId, session: SessionDep
    ) -> TeamAccess:
        access = await load_access(session, team_id, user_id)
        if permission is not None and not access.can(permission):
            raise forbidden(permission)
        return access

    return Depends(dependency)


TeamMember = Annotated[TeamAccess, requires()]
CanUpdateTeam = Annotated[TeamAccess, requires(P.TEAM_UPDATE)]
CanDeleteTeam = Annotated[TeamAccess, requires(P.TEAM_DELETE)]
CanManageMembers = Annotated[TeamAccess, requires(P.MEMBERS_MANAGE)]
CanManageRoles = Annotated[TeamAccess, requires(P.ROLES_MANAGE)]
CanInvite = Annotated[TeamAccess, requires(P.MEMBERS_INVITE)]
