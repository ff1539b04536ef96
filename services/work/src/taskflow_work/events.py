"""Every reaction of the work service to other services' events, in one map."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.events import new_event
from taskflow_chassis.inbox import Handler
from taskflow_chassis.outbox import add_to_outbox
from taskflow_contracts import auth, teams
from taskflow_contracts.base import EventPayload

from taskflow_work.replica import messaging as replica

SOURCE = "/taskflow/work"

HANDLERS: Mapping[str, Sequence[Handler]] = {
    teams.TeamCreated.event_type: [replica.on_team_created],
    teams.TeamUpdated.event_type: [replica.on_team_updated],
    teams.TeamDeleted.event_type: [replica.on_team_deleted],
    teams.MemberJoined.event_type: [replica.on_member_joined],
    teams.MemberRoleChanged.event_type: [replica.on_member_role_changed],
    teams.MemberRemoved.event_type: [replica.on_member_removed],
    teams.RoleUpdated.event_type: [replica.on_role_updated],
    auth.UserDeleted.event_type: [replica.on_user_deleted],
}


async def publish(
    session: AsyncSession, *payloads: EventPayload, subject: str | None = None
) -> None:
    """Write the events, in order, to the outbox in the caller's transaction (one insert)."""
    await add_to_outbox(
        session,
        *(
            new_event(payload.event_type, source=SOURCE, data=payload, subject=subject)
            for payload in payloads
        ),
    )
