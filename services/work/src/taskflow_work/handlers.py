"""Every reaction of the work service to other services' events, in one map."""

from __future__ import annotations

from taskflow_chassis.handlers import EventHandlers
from taskflow_contracts import auth, teams

from taskflow_work.replica import messaging as replica

EVENT_HANDLERS: EventHandlers = {
    teams.TeamCreated: [replica.on_team_created],
    teams.TeamUpdated: [replica.on_team_updated],
    teams.TeamDeleted: [replica.on_team_deleted],
    teams.TeamRestored: [replica.on_team_restored],
    teams.TeamPurged: [replica.on_team_purged],
    teams.TeamDeletedV1: [replica.on_team_purged],
    teams.MemberJoined: [replica.on_member_joined],
    teams.MemberRoleChanged: [replica.on_member_role_changed],
    teams.MemberRemoved: [replica.on_member_removed],
    teams.RoleUpdated: [replica.on_role_updated],
    auth.UserRegistered: [replica.on_person_changed],
    auth.UserUpdated: [replica.on_person_changed],
    auth.ParticipantRegistered: [replica.on_person_changed],
    auth.ParticipantUpdated: [replica.on_person_changed],
    auth.UserDeleted: [replica.on_user_deleted, replica.on_person_deleted],
}
