"""Every reaction of the notify service to other services' events, in one map.

Replica handlers run before the notifying ones, in the same transaction, so a
notification sees the state its event brought.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from taskflow_chassis.inbox import Handler
from taskflow_contracts import auth, teams, work

from taskflow_notify.notifications import messaging as notify
from taskflow_notify.replica import messaging as replica

HANDLERS: Mapping[str, Sequence[Handler]] = {
    auth.UserRegistered.event_type: [replica.on_user_registered],
    auth.UserUpdated.event_type: [replica.on_user_updated],
    auth.UserDeleted.event_type: [replica.on_user_deleted],
    auth.ParticipantRegistered.event_type: [replica.on_participant_changed],
    auth.ParticipantUpdated.event_type: [replica.on_participant_changed],
    auth.PasswordResetRequested.event_type: [notify.on_password_reset],
    auth.EmailVerificationRequested.event_type: [notify.on_email_verification_requested],
    auth.EmailChangeRequested.event_type: [
        notify.on_email_change_requested,
        notify.on_email_change_notice,
    ],
    teams.TeamCreated.event_type: [replica.on_team_created],
    teams.TeamUpdated.event_type: [replica.on_team_updated],
    teams.TeamDeleted.event_type: [replica.on_team_deleted],
    teams.MemberJoined.event_type: [replica.on_member_joined],
    teams.MemberRemoved.event_type: [replica.on_member_removed],
    teams.InvitationCreated.event_type: [replica.on_invitation_created, notify.on_invitation_sent],
    teams.InvitationResent.event_type: [notify.on_invitation_sent],
    teams.InvitationAccepted.event_type: [notify.on_invitation_accepted],
    teams.InvitationRevoked.event_type: [replica.on_invitation_revoked],
    work.ProjectCreated.event_type: [replica.on_project_created],
    work.ProjectUpdated.event_type: [replica.on_project_updated],
    work.ProjectDeleted.event_type: [replica.on_project_deleted],
    work.TaskCreated.event_type: [replica.on_task_created],
    work.TaskUpdated.event_type: [replica.on_task_updated],
    work.TaskAssigned.event_type: [replica.on_task_assigned, notify.on_task_assigned],
    work.TaskUnassigned.event_type: [replica.on_task_unassigned],
    work.TaskDeleted.event_type: [replica.on_task_deleted],
    work.CommentCreated.event_type: [notify.on_comment_created],
}
