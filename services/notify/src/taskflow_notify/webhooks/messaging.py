"""The events webhooks carry: each one about a team becomes a delivery per endpoint of the
team that wants its type, in the consumer's transaction (its inbox row makes a redelivered
event write nothing twice); a purged team's endpoints go with it."""

from __future__ import annotations

import uuid
from typing import Protocol

from taskflow_contracts import teams

from taskflow_notify.deps import Context
from taskflow_notify.webhooks import service


class TeamEvent(Protocol):
    @property
    def team_id(self) -> uuid.UUID: ...


async def on_team_event(payload: TeamEvent, context: Context) -> None:
    """Any of ``rules.WEBHOOK_EVENTS`` (each carries the team's id)."""
    await service.enqueue_event(context.session, payload.team_id, context.event)


async def on_team_purged(payload: teams.TeamPurged, context: Context) -> None:
    await service.forget_team(context.session, payload.team_id)
