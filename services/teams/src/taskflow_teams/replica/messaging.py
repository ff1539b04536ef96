"""Keeping the replica in step with auth's users (each handler runs once per event)."""

from __future__ import annotations

from taskflow_contracts import auth

from taskflow_teams.deps import Context
from taskflow_teams.replica import service


async def on_user_changed(
    payload: auth.UserRegistered | auth.UserUpdated, context: Context
) -> None:
    await service.upsert_person(
        context.session,
        payload.user_id,
        username=payload.username,
        email=payload.email,
        email_verified=payload.email_verified,
    )


async def on_participant_changed(
    payload: auth.ParticipantRegistered | auth.ParticipantUpdated, context: Context
) -> None:
    await service.upsert_person(
        context.session,
        payload.user_id,
        username=payload.username,
        email=payload.email,
        display_name=payload.display_name,
        is_participant=True,
    )


async def on_user_deleted(payload: auth.UserDeleted, context: Context) -> None:
    await service.forget_person(context.session, payload.user_id)
