"""The one authorization dependency: who may do what in a team.

A caller who is not a member of the team gets 404 for it (its existence is not
theirs to learn); a member without the permission gets 403. Permissions are the
catalogue's strings, carried by the member's role; no code compares role names.
A personal API token acts with the member's permissions within its scopes (and the
chassis answers 404 for a team its restriction leaves out, as for a non-member).
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
from taskflow_chassis.security import CurrentClaims, TokenClaims
from taskflow_contracts import permissions as P

from taskflow_teams.teams.models import Membership, Role, Team


@dataclass
class TeamAccess:
    team: Team
    membership: Membership
    role: Role
    user_id: uuid.UUID
    # The caller's token: an API token's scopes bound what the role grants.
    claims: TokenClaims | None = None

    @property
    def permissions(self) -> frozenset[str]:
        if self.claims is None:
            return self.role.permissions
        return self.claims.limit(self.role.permissions)

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def ensure_can(self, permission: str | None) -> None:
        """403 unless the role grants ``permission`` (``None``: being a member is enough)."""
        if permission is not None and not self.can(permission):
            raise forbidden(permission)


def team_not_found() -> ProblemError:
    return not_found("Team", "No team with this id has you as a member.")


async def load_access(
    session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID, *, deleted: bool = False
) -> TeamAccess:
    """A deleted team is no one's (404), except to restore it (``deleted``: found too)."""
    query = (
        select(Team, Membership, Role)
        .join(Membership, col(Membership.team_id) == Team.id)
        .join(Role, col(Role.id) == Membership.role_id)
        .where(col(Team.id) == team_id, col(Membership.user_id) == user_id)
    )
    if not deleted:
        query = query.where(col(Team.deleted_at).is_(None))
    row = (await session.execute(query)).first()
    if row is None:
        raise team_not_found()
    team, membership, role = row
    return TeamAccess(team=team, membership=membership, role=role, user_id=user_id)


def requires(permission: str | None = None) -> Any:
    """``Depends`` giving the caller's TeamAccess for ``{team_id}``, checked for ``permission``."""

    async def dependency(
        team_id: uuid.UUID, claims: CurrentClaims, session: SessionDep
    ) -> TeamAccess:
        access = await load_access(session, team_id, claims.user_id)
        access.claims = claims
        access.ensure_can(permission)
        return access

    return Depends(dependency)


TeamMember = Annotated[TeamAccess, requires()]
CanUpdateTeam = Annotated[TeamAccess, requires(P.TEAM_UPDATE)]
CanDeleteTeam = Annotated[TeamAccess, requires(P.TEAM_DELETE)]
CanManageMembers = Annotated[TeamAccess, requires(P.MEMBERS_MANAGE)]
CanManageRoles = Annotated[TeamAccess, requires(P.ROLES_MANAGE)]
CanInvite = Annotated[TeamAccess, requires(P.MEMBERS_INVITE)]
CanReadAudit = Annotated[TeamAccess, requires(P.AUDIT_READ)]
