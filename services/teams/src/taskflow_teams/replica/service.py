"""The people teams knows: usernames, emails, who is a participant, whose email is verified."""

from __future__ import annotations

import uuid

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.problems import ProblemError
from taskflow_chassis.types import utcnow

from taskflow_teams.replica.models import Person


async def upsert_person(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    username: str,
    email: str,
    display_name: str | None = None,
    is_participant: bool | None = None,
    email_verified: bool | None = None,
) -> Person:
    """``None`` keeps what is known; a new email without word of its verification is
    unverified (the participant events do not carry it)."""
    email = email.lower()
    person = await session.get(Person, user_id)
    if person is None:
        person = Person(user_id=user_id, username=username, email=email)
    elif person.email != email and email_verified is None:
        person.email_verified = False
    person.username, person.email = username, email
    if email_verified is not None:
        person.email_verified = email_verified
    if is_participant is not None:
        person.is_participant = is_participant
        person.display_name = display_name
    person.updated_at = utcnow()
    session.add(person)
    return person


async def forget_person(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(delete(Person).where(col(Person.user_id) == user_id))


async def require_participant(session: AsyncSession, user_id: uuid.UUID) -> Person:
    """The caller's entry, or 403 saying how to become a participant."""
    person = await session.get(Person, user_id)
    if person is None or not person.is_participant:
        raise ProblemError(
            403,
            "Participant profile required",
            "Register your participant profile first: POST /api/v1/participants/register "
            "with your phone number. It can take a moment to reach the teams service.",
            type="participant-required",
        )
    return person


async def require_verified_email(session: AsyncSession, user_id: uuid.UUID) -> Person:
    """The caller's entry, or 403 unless its email address is verified: only the
    owner of an address may see or answer the invitations sent to it."""
    person = await session.get(Person, user_id)
    if person is None or not person.email_verified:
        raise ProblemError(
            403,
            "Verify your email address first",
            "Follow the link emailed to your address when you signed up (or ask for a new "
            "one: POST /api/v1/auth/users/resend_verification). It can take a moment to "
            "reach the teams service.",
            type="email-not-verified",
        )
    return person
