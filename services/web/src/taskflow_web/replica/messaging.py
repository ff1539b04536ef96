"""What each event moves on (see service.py): web keeps no rows of other services' data,
only answers valid while these counters hold. The counters a batch of events moves are
moved together when it commits; where they cannot be reached, the commit raises, and the
consumer tries the events again."""

from __future__ import annotations

from taskflow_contracts import auth, teams, work

from taskflow_web.deps import Context
from taskflow_web.replica import rules

TaskEvent = (
    work.TaskCreated | work.TaskUpdated | work.TaskDeleted | work.TaskAssigned | work.CommentCreated
)
ProjectEvent = (
    work.ProjectCreated
    | work.ProjectUpdated
    | work.ProjectDeleted
    | work.ProjectDeletedV1
    | work.ProjectRestored
    | work.ProjectPurged
)
TeamEvent = (
    teams.TeamUpdated
    | teams.TeamDeleted
    | teams.TeamDeletedV1
    | teams.TeamRestored
    | teams.TeamPurged
    | teams.RoleUpdated
)
MemberEvent = teams.MemberJoined | teams.MemberRemoved | teams.MemberRoleChanged
PersonEvent = auth.UserUpdated | auth.ParticipantUpdated | auth.UserDeleted


def _move(context: Context, names: list[str]) -> None:
    context.uow.gathered(context.deps.moves).add(names)


async def on_task_changed(event: TaskEvent, context: Context) -> None:
    _move(context, [rules.project(event.project_id)])


async def on_task_unassigned(event: work.TaskUnassigned, context: Context) -> None:
    # The event names the task's team, not its project: every project of the team.
    _move(context, [rules.team(event.team_id)])


async def on_project_changed(event: ProjectEvent, context: Context) -> None:
    _move(context, [rules.project(event.project_id), rules.team(event.team_id)])


async def on_team_changed(event: TeamEvent, context: Context) -> None:
    _move(context, [rules.team(event.team_id)])


async def on_member_changed(event: MemberEvent, context: Context) -> None:
    """The member's own pages (their role, whether they see the team at all) and every
    member's (the member list)."""
    _move(context, [rules.team(event.team_id), rules.person(event.user_id)])


async def on_person_changed(event: PersonEvent, context: Context) -> None:
    _move(context, [rules.NAMES, rules.person(event.user_id)])
