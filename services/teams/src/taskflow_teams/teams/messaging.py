"""Teams' reactions to auth's events (each handler runs once per event)."""

from __future__ import annotations

from taskflow_contracts import auth

from taskflow_teams.deps import Context
from taskflow_teams.teams import service


async def on_user_deleted(payload: auth.UserDeleted, context: Context) -> None:
    await service.forget_user(context.uow, payload.user_id)
