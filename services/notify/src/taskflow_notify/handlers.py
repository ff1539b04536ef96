"""Every reaction of the notify service to other services' events, in one map.

Replica handlers run before the notifying ones and the live ones (a task's change on its
team's streams), in the same transaction, so each sees the state its event brought. Every
event about a team (``webhooks.rules.WEBHOOK_EVENTS``) also goes to the team's webhooks.
"""

from __future__ import annotations

from taskflow_chassis.handlers import EventHandler, EventHandlers
from taskflow_contracts import auth, teams, work
from taskflow_contracts.base import EventPayload

from taskflow_notify.live import messaging as live
from taskflow_notify.notifications import messaging as notify
from taskflow_notify.replica import messaging as replica
from taskflow_notify.webhooks import messaging as webhooks
from taskflow_notify.webhooks import rules as webhook_rules

_HANDLERS: EventHandlers = {
    auth.UserRegistered: [replica.on_user_registered],
    auth.UserUpdated: [replica.on_user_updated],
    auth.UserDeleted: [replica.on_user_deleted, notify.on_user_deleted],
    auth.ParticipantRegistered: [replica.on_participant_changed],
    auth.ParticipantUpdated: [replica.on_participant_changed],
    auth.PasswordResetRequested: [notify.on_password_reset],
    auth.EmailVerificationRequested: [notify.on_email_verification_requested],
    auth.EmailChangeRequested: [notify.on_email_change_requested, notify.on_email_change_notice],
    teams.TeamCreated: [replica.on_team_created],
    teams.TeamUpdated: [replica.on_team_updated],
    teams.TeamDeleted: [replica.on_team_deleted],
    teams.TeamRestored: [replica.on_team_restored],
    teams.TeamPurged: [replica.on_team_purged, webhooks.on_team_purged],
    teams.TeamDeletedV1: [replica.on_team_purged],
    teams.MemberJoined: [replica.on_member_joined],
    teams.MemberRoleChanged: [replica.on_member_joined, webhooks.on_access_changed],
    teams.RoleUpdated: [replica.on_role_updated, webhooks.on_access_changed],
    teams.MemberRemoved: [replica.on_member_removed, webhooks.on_access_changed],
    teams.InvitationCreated: [replica.on_invitation_created, notify.on_invitation_sent],
    teams.InvitationResent: [notify.on_invitation_sent],
    teams.InvitationAccepted: [notify.on_invitation_accepted],
    teams.InvitationRevoked: [replica.on_invitation_revoked],
    work.ProjectCreated: [replica.on_project_created],
    work.ProjectUpdated: [replica.on_project_updated],
    work.ProjectDeleted: [replica.on_project_deleted],
    work.ProjectRestored: [replica.on_project_restored],
    work.ProjectPurged: [replica.on_project_purged],
    work.ProjectDeletedV1: [replica.on_project_purged],
    work.TaskCreated: [replica.on_task_created, live.on_task_created],
    work.TaskUpdated: [replica.on_task_updated, live.on_task_updated],
    work.TaskAssigned: [replica.on_task_assigned, notify.on_task_assigned, live.on_task_assigned],
    work.TaskUnassigned: [replica.on_task_unassigned, live.on_task_unassigned],
    work.TaskDeleted: [replica.on_task_deleted, live.on_task_deleted],
    work.CommentCreated: [notify.on_comment_created, live.on_comment_created],
}

# Each event a webhook may carry: its handlers above (if any), then the webhooks' fan-out.
_WITH_WEBHOOKS: EventHandlers = {
    **_HANDLERS,
    **{
        event: [*_HANDLERS.get(event, []), webhooks.on_team_event]
        for event in webhook_rules.WEBHOOK_EVENTS
    },
}

# Task and comment events change no team, membership, project, person, preference or
# webhook endpoint, so what a batch's handlers read of those is kept across them
# (``replica.service.KeptReads``: one read for a batch of one team's assignments); any
# other event forgets it first.
_KEEP_READS = frozenset(
    {
        work.TaskCreated,
        work.TaskUpdated,
        work.TaskAssigned,
        work.TaskUnassigned,
        work.TaskDeleted,
        work.CommentCreated,
    }
)
# Their replica writes are gathered over a run of them (``replica.service.TaskWrites``):
# none of their handlers reads the task tables, and any other event writes them first.
_GATHER_TASK_WRITES = frozenset({work.TaskCreated, work.TaskAssigned})


def _before(event: type[EventPayload]) -> list[EventHandler]:
    return [
        *([] if event in _KEEP_READS else [replica.forget_reads]),
        *([] if event in _GATHER_TASK_WRITES else [replica.write_tasks]),
    ]


EVENT_HANDLERS: EventHandlers = {
    event: [*_before(event), *handlers] for event, handlers in _WITH_WEBHOOKS.items()
}
