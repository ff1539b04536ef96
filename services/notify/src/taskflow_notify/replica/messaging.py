"""The events that keep notify's replicas of people, teams, memberships, projects and tasks."""

from __future__ import annotations

from taskflow_contracts import auth, teams, work

from taskflow_notify.deps import Context
from taskflow_notify.replica import service


async def forget_reads(payload: object, context: Context) -> None:
    """Before an event that may change what a batch's handlers keep (``KeptReads``)."""
    service.kept_reads(context.uow).forget()


async def write_tasks(payload: object, context: Context) -> None:
    """Before an event other than task.created and task.assigned: what their handlers
    gathered for the task tables (``TaskWrites``) is written, for this event to read."""
    await service.task_writes(context.uow).write()


async def on_user_registered(payload: auth.UserRegistered, context: Context) -> None:
    await service.upsert_user(
        context.session,
        payload.user_id,
        payload.username,
        payload.email,
        email_verified=payload.email_verified,
    )


async def on_user_updated(payload: auth.UserUpdated, context: Context) -> None:
    await service.upsert_user(
        context.session,
        payload.user_id,
        payload.username,
        payload.email,
        email_verified=payload.email_verified,
    )


async def on_participant_changed(
    payload: auth.ParticipantRegistered | auth.ParticipantUpdated, context: Context
) -> None:
    await service.upsert_user(
        context.session, payload.user_id, payload.username, payload.email, payload.display_name
    )


async def on_user_deleted(payload: auth.UserDeleted, context: Context) -> None:
    await service.forget_user(context.session, payload.user_id)


async def on_team_created(payload: teams.TeamCreated, context: Context) -> None:
    await service.upsert_team(context.session, payload.team_id, payload.name)


async def on_team_updated(payload: teams.TeamUpdated, context: Context) -> None:
    await service.upsert_team(context.session, payload.team_id, payload.name)


async def on_team_deleted(payload: teams.TeamDeleted, context: Context) -> None:
    """Deleted, restorable: kept, and its tasks hidden from reminders and notifications."""
    await service.team_deleted(context.session, payload.team_id, payload.deleted_at)


async def on_team_restored(payload: teams.TeamRestored, context: Context) -> None:
    """Back as it was (its members were kept): its tasks are reminded of again."""
    await service.team_restored(context.session, payload.team_id, payload.name, context.event.time)


async def on_team_purged(payload: teams.TeamPurged | teams.TeamDeletedV1, context: Context) -> None:
    """Gone for good (v1's deletion meant that too). A soft deletion (team.deleted.v2)
    erases nothing here: the team may be restored."""
    await service.forget_team(context.session, payload.team_id)


async def on_member_joined(
    payload: teams.MemberJoined | teams.MemberRoleChanged, context: Context
) -> None:
    """Joined, or given another role: a member, with the role's permissions."""
    await service.set_membership(
        context.session,
        payload.team_id,
        payload.user_id,
        payload.team_seq,
        active=True,
        grant=(payload.role_id, payload.permissions),
    )


async def on_role_updated(payload: teams.RoleUpdated, context: Context) -> None:
    await service.role_updated(
        context.session, payload.team_id, payload.role_id, payload.permissions, payload.team_seq
    )


async def on_member_removed(payload: teams.MemberRemoved, context: Context) -> None:
    session = context.session
    if await service.set_membership(
        session, payload.team_id, payload.user_id, payload.team_seq, active=False
    ):
        await service.unassign_team_tasks(session, payload.team_id, payload.user_id)


async def on_invitation_created(payload: teams.InvitationCreated, context: Context) -> None:
    await service.add_invitation(
        context.session,
        payload.invitation_id,
        payload.team_id,
        payload.team_name,
        payload.email,
        payload.invited_by,
    )


async def on_invitation_revoked(payload: teams.InvitationRevoked, context: Context) -> None:
    await service.forget_invitation(context.session, payload.invitation_id)


async def on_project_created(payload: work.ProjectCreated, context: Context) -> None:
    await service.upsert_project(context.session, payload.project_id, payload.team_id, payload.name)


async def on_project_updated(payload: work.ProjectUpdated, context: Context) -> None:
    await service.upsert_project(context.session, payload.project_id, payload.team_id, payload.name)


async def on_project_deleted(payload: work.ProjectDeleted, context: Context) -> None:
    """Deleted, restorable: kept, and its tasks hidden from reminders and notifications."""
    await service.project_deleted(
        context.session, payload.project_id, payload.team_id, payload.deleted_at
    )


async def on_project_restored(payload: work.ProjectRestored, context: Context) -> None:
    await service.project_restored(
        context.session, payload.project_id, payload.team_id, payload.name, context.event.time
    )


async def on_project_purged(
    payload: work.ProjectPurged | work.ProjectDeletedV1, context: Context
) -> None:
    """Gone for good (v1's deletion meant that too); a soft deletion erases nothing."""
    await service.forget_project(context.session, payload.project_id)


async def on_task_created(payload: work.TaskCreated, context: Context) -> None:
    task = {
        "task_id": payload.task_id,
        "project_id": payload.project_id,
        "team_id": payload.team_id,
        "title": payload.title,
        "status": payload.status,
        "due_at": payload.due_at,
        "created_by": payload.created_by,
    }
    service.task_writes(context.uow).created(task)
    # task.assigned, one per assignee, records each assignment (and notifies).


async def on_task_updated(payload: work.TaskUpdated, context: Context) -> None:
    await service.update_task(
        context.session, payload.task_id, payload.title, payload.status, payload.due_at
    )


async def on_task_assigned(payload: work.TaskAssigned, context: Context) -> None:
    service.task_writes(context.uow).assigned(
        payload.task_id, payload.assignee_id, payload.title, payload.due_at
    )


async def on_task_unassigned(payload: work.TaskUnassigned, context: Context) -> None:
    await service.unassign_task(context.session, payload.task_id, payload.assignee_id)


async def on_task_deleted(payload: work.TaskDeleted, context: Context) -> None:
    await service.forget_task(context.session, payload.task_id)
