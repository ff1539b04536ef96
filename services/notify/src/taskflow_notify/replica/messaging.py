"""Keeping notify's replicas (people, teams, memberships, projects, tasks) in step."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.db import dialect_of_session, insert_or_ignore, upsert
from taskflow_chassis.events import CloudEvent
from taskflow_contracts import auth, teams, work

from taskflow_notify.replica.models import (
    InvitationReplica,
    MemberReplica,
    ProjectReplica,
    TaskAssigneeReplica,
    TaskReplica,
    TeamReplica,
    UserReplica,
)

logger = logging.getLogger("taskflow.notify.replica")


async def _upsert_user(
    session: AsyncSession,
    user_id: uuid.UUID,
    username: str,
    email: str,
    display_name: str | None = None,
    email_verified: bool | None = None,
) -> None:
    """``email_verified`` None keeps what is known, except that a new email without word of
    its verification is unverified (participant events do not carry it)."""
    email = email.lower()
    row = await session.get(UserReplica, user_id) or UserReplica(
        user_id=user_id, username=username, email=email
    )
    if row.email != email and email_verified is None:
        row.email_verified = False
    row.username, row.email = username, email
    if email_verified is not None:
        row.email_verified = email_verified
    if display_name is not None:
        row.display_name = display_name
    session.add(row)


async def on_user_registered(session: AsyncSession, event: CloudEvent) -> None:
    data = auth.UserRegistered.model_validate(event.data)
    await _upsert_user(
        session, data.user_id, data.username, data.email, email_verified=data.email_verified
    )


async def on_user_updated(session: AsyncSession, event: CloudEvent) -> None:
    data = auth.UserUpdated.model_validate(event.data)
    await _upsert_user(
        session, data.user_id, data.username, data.email, email_verified=data.email_verified
    )


async def on_participant_changed(session: AsyncSession, event: CloudEvent) -> None:
    data = auth.ParticipantRegistered.model_validate(event.data)
    await _upsert_user(session, data.user_id, data.username, data.email, data.display_name)


async def on_user_deleted(session: AsyncSession, event: CloudEvent) -> None:
    from taskflow_notify.notifications.models import Notification, Preferences

    data = auth.UserDeleted.model_validate(event.data)
    for table, column in (
        (UserReplica, UserReplica.user_id),
        (MemberReplica, MemberReplica.user_id),
        (TaskAssigneeReplica, TaskAssigneeReplica.user_id),
        (Notification, Notification.user_id),
        (Preferences, Preferences.user_id),
    ):
        await session.execute(delete(table).where(column == data.user_id))  # type: ignore[arg-type]


async def _upsert_team(session: AsyncSession, team_id: uuid.UUID, name: str) -> None:
    row = await session.get(TeamReplica, team_id) or TeamReplica(team_id=team_id, name=name)
    row.name = name
    session.add(row)


async def on_team_created(session: AsyncSession, event: CloudEvent) -> None:
    data = teams.TeamCreated.model_validate(event.data)
    await _upsert_team(session, data.team_id, data.name)


async def on_team_updated(session: AsyncSession, event: CloudEvent) -> None:
    data = teams.TeamUpdated.model_validate(event.data)
    await _upsert_team(session, data.team_id, data.name)


async def on_team_deleted(session: AsyncSession, event: CloudEvent) -> None:
    data = teams.TeamDeleted.model_validate(event.data)
    await _forget_tasks(
        session, select(TaskReplica.task_id).where(TaskReplica.team_id == data.team_id)
    )  # type: ignore[arg-type]
    for table in (ProjectReplica, MemberReplica, TeamReplica):
        await session.execute(delete(table).where(table.team_id == data.team_id))  # type: ignore[attr-defined]


async def _newer(
    session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID, seq: int | None
) -> MemberReplica | None:
    """The member's row to change, or None when the event is older than what the row
    holds (reordered behind a later event, or replayed): teams' order wins."""
    row = (
        await session.execute(
            select(MemberReplica)
            .where(MemberReplica.team_id == team_id, MemberReplica.user_id == user_id)  # type: ignore[arg-type]
            .with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        return MemberReplica(team_id=team_id, user_id=user_id, seq=0, active=False)
    if row.seq > 0 and (seq is None or seq <= row.seq):
        logger.info(
            "ignored membership event for %s in team %s: seq %s, the row is at %s",
            user_id,
            team_id,
            seq,
            row.seq,
        )
        return None
    return row


async def on_member_joined(session: AsyncSession, event: CloudEvent) -> None:
    data = teams.MemberJoined.model_validate(event.data)
    row = await _newer(session, data.team_id, data.user_id, data.team_seq)
    if row is None:
        return
    row.seq, row.active = data.team_seq or 0, True
    session.add(row)


async def on_member_removed(session: AsyncSession, event: CloudEvent) -> None:
    data = teams.MemberRemoved.model_validate(event.data)
    row = await _newer(session, data.team_id, data.user_id, data.team_seq)
    if row is None:
        return
    row.seq, row.active = data.team_seq or 0, False
    session.add(row)
    team_tasks = select(TaskReplica.task_id).where(TaskReplica.team_id == data.team_id)  # type: ignore[arg-type]
    await session.execute(
        delete(TaskAssigneeReplica).where(
            TaskAssigneeReplica.user_id == data.user_id,
            TaskAssigneeReplica.task_id.in_(team_tasks),  # type: ignore[arg-type,attr-defined]
        )
    )


async def on_invitation_created(session: AsyncSession, event: CloudEvent) -> None:
    data = teams.InvitationCreated.model_validate(event.data)
    if await session.get(InvitationReplica, data.invitation_id) is None:
        session.add(
            InvitationReplica(
                invitation_id=data.invitation_id,
                team_id=data.team_id,
                team_name=data.team_name,
                email=data.email,
                invited_by=data.invited_by,
            )
        )


async def on_invitation_revoked(session: AsyncSession, event: CloudEvent) -> None:
    data = teams.InvitationRevoked.model_validate(event.data)
    await session.execute(
        delete(InvitationReplica).where(InvitationReplica.invitation_id == data.invitation_id)
    )  # type: ignore[arg-type]


async def _upsert_project(
    session: AsyncSession, project_id: uuid.UUID, team_id: uuid.UUID, name: str
) -> None:
    row = await session.get(ProjectReplica, project_id) or ProjectReplica(
        project_id=project_id, team_id=team_id, name=name
    )
    row.name = name
    session.add(row)


async def on_project_created(session: AsyncSession, event: CloudEvent) -> None:
    data = work.ProjectCreated.model_validate(event.data)
    await _upsert_project(session, data.project_id, data.team_id, data.name)


async def on_project_updated(session: AsyncSession, event: CloudEvent) -> None:
    data = work.ProjectUpdated.model_validate(event.data)
    await _upsert_project(session, data.project_id, data.team_id, data.name)


async def on_project_deleted(session: AsyncSession, event: CloudEvent) -> None:
    data = work.ProjectDeleted.model_validate(event.data)
    await _forget_tasks(
        session, select(TaskReplica.task_id).where(TaskReplica.project_id == data.project_id)
    )  # type: ignore[arg-type]
    await session.execute(
        delete(ProjectReplica).where(ProjectReplica.project_id == data.project_id)
    )  # type: ignore[arg-type]


async def _forget_tasks(session: AsyncSession, task_ids: object) -> None:
    ids = list((await session.execute(task_ids)).scalars())  # type: ignore[call-overload]
    if ids:
        await session.execute(
            delete(TaskAssigneeReplica).where(TaskAssigneeReplica.task_id.in_(ids))
        )  # type: ignore[attr-defined]
        await session.execute(delete(TaskReplica).where(TaskReplica.task_id.in_(ids)))  # type: ignore[attr-defined]


async def on_task_created(session: AsyncSession, event: CloudEvent) -> None:
    data = work.TaskCreated.model_validate(event.data)
    task = {
        "task_id": data.task_id,
        "project_id": data.project_id,
        "team_id": data.team_id,
        "title": data.title,
        "status": data.status,
        "due_at": data.due_at,
        "created_by": data.created_by,
    }
    await session.execute(
        upsert(
            dialect_of_session(session),
            TaskReplica,
            task,
            ["task_id"],
            ["title", "status", "due_at"],
        )
    )
    # task.assigned, one per assignee, records each assignment (and notifies).


async def on_task_updated(session: AsyncSession, event: CloudEvent) -> None:
    data = work.TaskUpdated.model_validate(event.data)
    row = await session.get(TaskReplica, data.task_id)
    if row is None:
        return  # created before notify listened: nothing to remind about yet
    row.title, row.status, row.due_at = data.title, data.status, data.due_at
    session.add(row)


async def on_task_assigned(session: AsyncSession, event: CloudEvent) -> None:
    data = work.TaskAssigned.model_validate(event.data)
    # A task created before notify listened has no replica row: nothing to update then.
    await session.execute(
        update(TaskReplica)
        .where(TaskReplica.task_id == data.task_id)  # type: ignore[arg-type]
        .values(title=data.title, due_at=data.due_at)
    )
    assignment = {"task_id": data.task_id, "user_id": data.assignee_id}
    await session.execute(
        insert_or_ignore(
            dialect_of_session(session), TaskAssigneeReplica, assignment, list(assignment)
        )
    )


async def on_task_unassigned(session: AsyncSession, event: CloudEvent) -> None:
    data = work.TaskUnassigned.model_validate(event.data)
    await session.execute(
        delete(TaskAssigneeReplica).where(
            TaskAssigneeReplica.task_id == data.task_id,
            TaskAssigneeReplica.user_id == data.assignee_id,  # type: ignore[arg-type]
        )
    )


async def on_task_deleted(session: AsyncSession, event: CloudEvent) -> None:
    data = work.TaskDeleted.model_validate(event.data)
    await _forget_tasks(
        session, select(TaskReplica.task_id).where(TaskReplica.task_id == data.task_id)
    )  # type: ignore[arg-type]
