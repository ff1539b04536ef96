"""Every reaction of the web service to other services' events, in one map.

Web owns no business data and keeps no replica rows: every page reads the four
services' public API with the signed-in person's own token. What it keeps is answers,
per person, valid while some counters hold (replica/service.py); these events move the
counters of what they change, so the next page asks the API again. Moving a counter
twice costs one more cache miss and nothing else, so web consumes without an inbox
(``inbox=False`` in app.py): a redelivered event is simply handled again."""

from __future__ import annotations

from taskflow_chassis.handlers import EventHandlers
from taskflow_contracts import auth, teams, work

from taskflow_web.replica import messaging as replica

EVENT_HANDLERS: EventHandlers = {
    work.TaskCreated: [replica.on_task_changed],
    work.TaskUpdated: [replica.on_task_changed],
    work.TaskDeleted: [replica.on_task_changed],
    work.TaskAssigned: [replica.on_task_changed],
    work.TaskUnassigned: [replica.on_task_unassigned],
    work.CommentCreated: [replica.on_task_changed],
    work.ProjectCreated: [replica.on_project_changed],
    work.ProjectUpdated: [replica.on_project_changed],
    work.ProjectDeleted: [replica.on_project_changed],
    work.ProjectDeletedV1: [replica.on_project_changed],
    work.ProjectRestored: [replica.on_project_changed],
    work.ProjectPurged: [replica.on_project_changed],
    teams.TeamUpdated: [replica.on_team_changed],
    teams.TeamDeleted: [replica.on_team_changed],
    teams.TeamDeletedV1: [replica.on_team_changed],
    teams.TeamRestored: [replica.on_team_changed],
    teams.TeamPurged: [replica.on_team_changed],
    teams.RoleUpdated: [replica.on_team_changed],
    teams.MemberJoined: [replica.on_member_changed],
    teams.MemberRemoved: [replica.on_member_changed],
    teams.MemberRoleChanged: [replica.on_member_changed],
    auth.UserUpdated: [replica.on_person_changed],
    auth.ParticipantUpdated: [replica.on_person_changed],
    auth.UserDeleted: [replica.on_person_changed],
}
