"""The events webhooks carry: each one about a team becomes a delivery per endpoint of the
team that wants its type, in the consumer's transaction (its inbox row makes a redelivered
event write nothing twice); a purged team's endpoints go with it; a member leaving or
losing webhooks.manage disables the endpoints they answer for."""

from __future__ import annotations

import uuid
from typing import Protocol

from taskflow_chassis.types import utcnow
from taskflow_contracts import teams

from taskflow_notify.deps import Context
from taskflow_notify.replica.service import kept_reads
from taskflow_notify.webhooks import service


class TeamEvent(Protocol):
    @property
    def team_id(self) -> uuid.UUID: ...


async def on_team_event(payload: TeamEvent, context: Context) -> None:
    """Any of ``rules.WEBHOOK_EVENTS`` (each carries the team's id). The team's endpoints
    are read once for a run of task and comment events (``KeptReads``): only other events
    (or a request, which commits apart) change them."""
    session, team_id = context.session, payload.team_id
    endpoints = await kept_reads(context.uow).kept(
        ("webhook endpoints", team_id), lambda: service.enabled_endpoints(session, team_id)
    )
    await service.enqueue_event(session, team_id, context.event, endpoints)


async def on_team_purged(payload: teams.TeamPurged, context: Context) -> None:
    await service.forget_team(context.session, payload.team_id)


async def on_access_changed(
    payload: teams.MemberRemoved | teams.MemberRoleChanged | teams.RoleUpdated, context: Context
) -> None:
    """After the replica applied it (and before the event's own deliveries): endpoints whose
    creator no longer may manage them are disabled, so this event is not sent to them."""
    deps = context.deps
    await service.disable_orphaned(
        context.session, payload.team_id, utcnow(), deps.templates, deps.settings
    )
