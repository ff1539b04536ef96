"""What auth publishes. It consumes nothing (ARCHITECTURE.md), so its handler map is empty."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.events import new_event
from taskflow_chassis.inbox import Handler
from taskflow_chassis.outbox import add_to_outbox
from taskflow_contracts.base import EventPayload

SOURCE = "/taskflow/auth"

HANDLERS: Mapping[str, Sequence[Handler]] = {}


async def publish(
    session: AsyncSession, payload: EventPayload, *, subject: str | None = None
) -> None:
    """Write the event to the outbox in the caller's transaction."""
    await add_to_outbox(
        session,
        new_event(payload.event_type, source=SOURCE, data=payload, subject=subject),
    )
