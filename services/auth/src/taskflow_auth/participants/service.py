"""Participant profiles: one per account, each with a phone number nobody else holds."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from taskflow_chassis.etags import Precondition, lock
from taskflow_chassis.problems import ProblemError, conflict
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts import auth as contract

from taskflow_auth.credentials.service import hold_account
from taskflow_auth.participants.models import Participant
from taskflow_auth.participants.rules import parse_phone_number, phone_problem
from taskflow_auth.participants.schemas import ParticipantCreate, ParticipantRead, ParticipantUpdate


class Account(Protocol):
    """The account a profile belongs to, as the profile's events name it."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def username(self) -> str: ...

    @property
    def email(self) -> str: ...


async def get_participant(session: AsyncSession, user_id: uuid.UUID) -> Participant | None:
    return await session.get(Participant, user_id)


def participant_event(
    kind: type[contract.ParticipantRegistered] | type[contract.ParticipantUpdated],
    account: Account,
    participant: Participant,
) -> contract.ParticipantRegistered | contract.ParticipantUpdated:
    return kind(
        user_id=account.id,
        username=account.username,
        email=account.email,
        display_name=participant.display_name,
        phone_number=participant.phone_number,
    )


async def register_participant(
    uow: UnitOfWork, account: Account, data: ParticipantCreate
) -> Participant:
    phone = parse_phone_number(data.phone_number, data.region)
    await hold_account(uow.session, account.id)
    if await get_participant(uow.session, account.id) is not None:
        raise _conflict("You are already registered as a participant.", "user_id")
    await _ensure_phone_free(uow.session, phone, account.id)
    participant = Participant(
        user_id=account.id, display_name=data.display_name, phone_number=phone, region=data.region
    )
    uow.session.add(participant)
    uow.publish(
        participant_event(contract.ParticipantRegistered, account, participant),
        subject=str(account.id),
    )
    await uow.commit_unique(
        _conflict("Already registered, or this phone number is taken.", "unique")
    )
    return participant


async def update_participant(
    uow: UnitOfWork,
    account: Account,
    participant: Participant,
    data: ParticipantUpdate,
    precondition: Precondition,
) -> Participant:
    await hold_account(uow.session, account.id)
    if precondition.tags is not None:
        await lock(uow.session, participant)
        precondition.check(ParticipantRead.model_validate(participant))
    changes = data.model_dump(exclude_unset=True)
    if "phone_number" in changes or "region" in changes:
        await _change_phone(uow.session, account.id, participant, changes)
    if "display_name" in changes:
        participant.display_name = changes["display_name"]
    participant.updated_at = utcnow()
    uow.session.add(participant)
    uow.publish(
        participant_event(contract.ParticipantUpdated, account, participant),
        subject=str(account.id),
    )
    await uow.commit_unique(_conflict("This phone number is taken.", "unique"))
    return participant


async def _change_phone(
    session: AsyncSession, user_id: uuid.UUID, participant: Participant, changes: dict[str, Any]
) -> None:
    """A new number, or the same number read in a new region."""
    if changes.get("phone_number") is None and "phone_number" in changes:
        raise phone_problem("The phone number cannot be removed.")
    region = changes.get("region", participant.region)
    phone = parse_phone_number(changes.get("phone_number") or participant.phone_number, region)
    await _ensure_phone_free(session, phone, user_id)
    participant.phone_number, participant.region = phone, region


async def _ensure_phone_free(session: AsyncSession, phone: str, user_id: uuid.UUID) -> None:
    taken = await session.execute(
        select(Participant.user_id).where(
            col(Participant.phone_number) == phone, col(Participant.user_id) != user_id
        )
    )
    if taken.first():
        raise _conflict("This phone number is registered to another participant.", "phone_number")


def _conflict(detail: str, field: str) -> ProblemError:
    # "unique" (the database refused a duplicate without naming it) and "user_id" (the
    # caller is registered already) are no one field of the body: the whole body.
    loc: list[str | int] = ["body", field] if field == "phone_number" else ["body"]
    return conflict("Conflict", detail, type="conflict", field=field, loc=loc)
