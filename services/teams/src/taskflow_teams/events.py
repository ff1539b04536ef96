"""Every reaction of the teams service to other services' events, in one map."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.events import new_event
from taskflow_chassis.inbox import Handler
from taskflow_chassis.outbox import add_to_outbox
from taskflow_contracts import auth
from taskflow_contracts.base import EventPayload

from taskflow_teams.directory import messaging as directory

SOURCE = "/taskflow/teams"

HANDLERS: Mapping[str, Sequence[Handler]] = {
    auth.UserRegistered.event_type: [directory.on_user_registered],
    auth.UserUpdated.event_type: [directory.on_user_updated],
    auth.UserDeleted.event_type: [directory.on_user_deleted],
    auth.ParticipantRegistered.event_type: [directory.on_participant_changed],
    auth.ParticipantUpdated.event_type: [directory.on_participant_changed],
}


async def publish(
    session: AsyncSession, payload: EventPayload, *, subject: str | None = None
) -> None:
    """Write the event to the outbox in the caller's transaction."""
    await add_to_outbox(
        session, new_event(payload.event_type, source=SOURCE, data=payload, subject=subject)
    )
