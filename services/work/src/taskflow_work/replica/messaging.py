"""Keeping the replica of teams in step (inbox handlers: each runs once per event)."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.events import CloudEvent
from taskflow_chassis.types import utcnow
from taskflow_contracts import auth, teams

from taskflow_work.replica.models import MemberReplica, TeamReplica


async def _upsert_team(session: AsyncSession, team_id: uuid.UUID, name: str) -> None:
    row = await session.get(TeamReplica, team_id)
    if row is None:
        row = TeamReplica(team_id=team_id, name=name)
    row.name, row.updated_at = name, utcnow()
    session.add(row)


async def on_team_created(session: AsyncSession, event: CloudEvent) -> None:
    data = teams.TeamCreated.model_validate(event.data)
    await _upsert_team(session, data.team_id, data.name)


async def on_team_updated(session: AsyncSession, event: CloudEvent) -> None:
    data = teams.TeamUpdated.model_validate(event.data)
    await _upsert_team(session, data.team_id, data.name)


async def on_team_deleted(session: AsyncSession, event: CloudEvent) -> None:
    from taskflow_work.projects import service as projects

    data = teams.TeamDeleted.model_validate(event.data)
    await projects.delete_team_projects(session, data.team_id)
    await session.execute(delete(MemberReplica).where(MemberReplica.team_id == data.team_id))  # type: ignore[arg-type]
    await session.execute(delete(TeamReplica).where(TeamReplica.team_id == data.team_id))  # type: ignore[arg-type]


async def _upsert_member(
    session: AsyncSession, data: teams.MemberJoined | teams.MemberRoleChanged
) -> None:
    row = await session.get(MemberReplica, (data.team_id, data.user_id))
    if row is None:
        row = MemberReplica(
            team_id=data.team_id,
            user_id=data.user_id,
            role_id=data.role_id,
            role_name=data.role_name,
        )
    row.role_id, row.role_name = data.role_id, data.role_name
    row.permission_list = " ".join(sorted(data.permissions))
    row.from_event, row.updated_at = True, utcnow()
    session.add(row)


async def on_member_joined(session: AsyncSession, event: CloudEvent) -> None:
    await _upsert_member(session, teams.MemberJoined.model_validate(event.data))


async def on_member_role_changed(session: AsyncSession, event: CloudEvent) -> None:
    await _upsert_member(session, teams.MemberRoleChanged.model_validate(event.data))


async def on_member_removed(session: AsyncSession, event: CloudEvent) -> None:
    from taskflow_work.tasks import service as tasks

    data = teams.MemberRemoved.model_validate(event.data)
    await _remove_member(session, data.team_id, data.user_id)
    await tasks.unassign_everywhere(session, data.user_id, team_id=data.team_id)


async def _remove_member(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
    await session.execute(
        delete(MemberReplica).where(
            MemberReplica.team_id == team_id, MemberReplica.user_id == user_id
        )  # type: ignore[arg-type]
    )


async def on_role_updated(session: AsyncSession, event: CloudEvent) -> None:
    data = teams.RoleUpdated.model_validate(event.data)
    await session.execute(
        update(MemberReplica)
        .where(MemberReplica.team_id == data.team_id, MemberReplica.role_id == data.role_id)  # type: ignore[arg-type]
        .values(
            role_name=data.name,
            permission_list=" ".join(sorted(data.permissions)),
            updated_at=utcnow(),
        )
    )


async def on_user_deleted(session: AsyncSession, event: CloudEvent) -> None:
    from taskflow_work.tasks import service as tasks

    data = auth.UserDeleted.model_validate(event.data)
    team_ids = (
        await session.execute(
            select(MemberReplica.team_id).where(MemberReplica.user_id == data.user_id)
        )  # type: ignore[arg-type]
    ).scalars()
    for team_id in list(team_ids):
        await _remove_member(session, team_id, data.user_id)
    await tasks.unassign_everywhere(session, data.user_id, team_id=None)
