"""Keeping the directory in step with auth (inbox handlers: each runs once per event)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from taskflow_chassis.events import CloudEvent
from taskflow_contracts import auth

from taskflow_teams.directory import service


async def _upsert_user(session: AsyncSession, data: auth.UserRegistered | auth.UserUpdated) -> None:
    await service.upsert_person(
        session,
        data.user_id,
        username=data.username,
        email=data.email,
        email_verified=data.email_verified,
    )


async def on_user_registered(session: AsyncSession, event: CloudEvent) -> None:
    await _upsert_user(session, auth.UserRegistered.model_validate(event.data))


async def on_user_updated(session: AsyncSession, event: CloudEvent) -> None:
    await _upsert_user(session, auth.UserUpdated.model_validate(event.data))


async def on_participant_changed(session: AsyncSession, event: CloudEvent) -> None:
    data = auth.ParticipantRegistered.model_validate(event.data)
    await service.upsert_person(
        session,
        data.user_id,
        username=data.username,
        email=data.email,
        display_name=data.display_name,
        is_participant=True,
    )


async def on_user_deleted(session: AsyncSession, event: CloudEvent) -> None:
    data = auth.UserDeleted.model_validate(event.data)
    from taskflow_teams.teams import service as teams

    await teams.forget_user(session, data.user_id)
    await service.forget_person(session, data.user_id)
