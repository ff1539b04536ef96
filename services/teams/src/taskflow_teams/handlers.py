"""Every reaction of the teams service to events, in one map: auth's, and teams' own
membership facts, which the audit log records from the events that tell them (so each
entry is written once per event id, the same way whichever service published it)."""

from __future__ import annotations

from taskflow_chassis.handlers import EventHandlers
from taskflow_contracts import auth
from taskflow_contracts import teams as own

from taskflow_teams.audit import messaging as audit
from taskflow_teams.replica import messaging as replica
from taskflow_teams.teams import messaging as teams

EVENT_HANDLERS: EventHandlers = {
    auth.UserRegistered: [replica.on_user_changed],
    auth.UserUpdated: [replica.on_user_changed],
    # The account leaves its teams (a leaderless one gets a successor), then the replica.
    auth.UserDeleted: [teams.on_user_deleted, replica.on_user_deleted],
    auth.ParticipantRegistered: [replica.on_participant_changed],
    auth.ParticipantUpdated: [replica.on_participant_changed],
    # The security audit log.
    auth.LoginSucceeded: [audit.on_login_succeeded],
    auth.LoginFailed: [audit.on_login_failed],
    auth.PasswordChanged: [audit.on_password_changed],
    auth.EmailChanged: [audit.on_email_changed],
    auth.ApiTokenCreated: [audit.on_api_token_created],
    auth.ApiTokenRevoked: [audit.on_api_token_revoked],
    auth.TokensRevoked: [audit.on_tokens_revoked],
    own.MemberJoined: [audit.on_member_joined],
    own.MemberRoleChanged: [audit.on_member_role_changed],
    own.MemberRemoved: [audit.on_member_removed],
    own.RoleUpdated: [audit.on_role_updated],
    own.InvitationAccepted: [audit.on_invitation_accepted],
}
