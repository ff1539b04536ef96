"""Every reaction of the teams service to other services' events, in one map."""

from __future__ import annotations

from taskflow_chassis.handlers import EventHandlers
from taskflow_contracts import auth

from taskflow_teams.replica import messaging as replica
from taskflow_teams.teams import messaging as teams

EVENT_HANDLERS: EventHandlers = {
    auth.UserRegistered: [replica.on_user_changed],
    auth.UserUpdated: [replica.on_user_changed],
    # The account leaves its teams (a leaderless one gets a successor), then the replica.
    auth.UserDeleted: [teams.on_user_deleted, replica.on_user_deleted],
    auth.ParticipantRegistered: [replica.on_participant_changed],
    auth.ParticipantUpdated: [replica.on_participant_changed],
}
