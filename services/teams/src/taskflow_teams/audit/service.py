"""The audit log: entries recorded from events, read a page at a time, purged by age."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col
from taskflow_chassis.events import CloudEvent
from taskflow_chassis.pagination import PageParams, paginate
from taskflow_chassis.problems import ProblemError
from taskflow_chassis.types import table_of
from taskflow_chassis.unit_of_work import UnitOfWork

from taskflow_teams.audit.models import (
    ADDRESS_LENGTH,
    USER_AGENT_LENGTH,
    AuditEntry,
    AuditKind,
)
from taskflow_teams.audit.schemas import AuditEntryRead
from taskflow_teams.replica.models import Person
from taskflow_teams.replica.schemas import person_ref
from taskflow_teams.teams.models import Membership

_entries = table_of(AuditEntry)


@dataclass(frozen=True)
class Fact:
    """What one event tells the log, besides its id and time."""

    kind: AuditKind
    actor_id: uuid.UUID | None = None
    subject_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    object_id: uuid.UUID | None = None
    address: str | None = None
    user_agent: str | None = None
    details: dict[str, Any] | None = None


def _cut(value: str | None, length: int) -> str | None:
    return value[:length] if value else None


async def record(session: AsyncSession, event: CloudEvent, fact: Fact) -> None:
    """The entry of ``event``, unless it has one (the inbox already makes a redelivery a
    no-op; this also covers an event replayed by hand under a new delivery)."""
    known = await session.execute(
        select(_entries.c.id).where(_entries.c.event_id == event.id).limit(1)
    )
    if known.first() is not None:
        return
    session.add(
        AuditEntry(
            event_id=event.id,
            occurred_at=event.time,
            kind=fact.kind,
            actor_id=fact.actor_id,
            subject_id=fact.subject_id,
            team_id=fact.team_id,
            object_id=fact.object_id,
            address=_cut(fact.address, ADDRESS_LENGTH),
            user_agent=_cut(fact.user_agent, USER_AGENT_LENGTH),
            details_json=json.dumps(fact.details or {}, default=str, sort_keys=True),
        )
    )


async def team_of_token(
    session: AsyncSession, token_id: uuid.UUID, user_id: uuid.UUID
) -> uuid.UUID | None:
    """The team an API token was restricted to, as its creation's entry says (its
    revocation's event does not): so the revocation shows in that team's log too."""
    query = select(_entries.c.team_id).where(
        _entries.c.subject_id == user_id,
        _entries.c.kind == AuditKind.API_TOKEN_CREATED,
        _entries.c.object_id == token_id,
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def team_if_member(
    session: AsyncSession, team_id: uuid.UUID | None, user_id: uuid.UUID
) -> uuid.UUID | None:
    """``team_id`` when ``user_id`` is one of its members, else None: an event naming a team
    goes into that team's log only when its person belongs there (auth cannot check, and
    an outsider must not write into a team's log)."""
    if team_id is None:
        return None
    query = select(col(Membership.team_id)).where(
        col(Membership.team_id) == team_id, col(Membership.user_id) == user_id
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


# --- reading --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilters:
    kinds: tuple[AuditKind, ...] = ()
    actor_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None

    def check(self) -> None:
        """422 for a window that ends before it starts (it would answer nothing, always)."""
        if self.since is not None and self.until is not None and self.until < self.since:
            detail = "`until` is before `since`: no entry can fall between them."
            raise ProblemError(
                422,
                "Empty time window",
                detail,
                type="invalid-window",
                errors=[
                    {
                        "loc": ["query", "until"],
                        "field": "until",
                        "type": "invalid-window",
                        "msg": detail,
                    }
                ],
            )

    def conditions(self) -> list[ColumnElement[bool]]:
        chosen: list[ColumnElement[bool]] = []
        if self.kinds:
            chosen.append(_entries.c.kind.in_([str(kind) for kind in self.kinds]))
        if self.actor_id is not None:
            chosen.append(_entries.c.actor_id == self.actor_id)
        if self.since is not None:
            chosen.append(_entries.c.occurred_at >= self.since)
        if self.until is not None:
            chosen.append(_entries.c.occurred_at <= self.until)
        return chosen


def _read(entry: AuditEntry, actor: Person | None, subject: Person | None) -> AuditEntryRead:
    return AuditEntryRead(
        id=entry.id,
        occurred_at=entry.occurred_at,
        kind=AuditKind(entry.kind),
        actor_id=entry.actor_id,
        actor=person_ref(entry.actor_id, actor) if entry.actor_id else None,
        subject_id=entry.subject_id,
        subject=person_ref(entry.subject_id, subject) if entry.subject_id else None,
        team_id=entry.team_id,
        object_id=entry.object_id,
        address=entry.address,
        user_agent=entry.user_agent,
        details=json.loads(entry.details_json),
    )


async def _page(
    session: AsyncSession,
    scope: ColumnElement[bool],
    filters: AuditFilters,
    page: PageParams,
) -> tuple[list[AuditEntryRead], str | None]:
    filters.check()
    actor, subject = aliased(Person), aliased(Person)
    query = (
        select(AuditEntry, actor, subject)
        .outerjoin(actor, col(actor.user_id) == AuditEntry.actor_id)
        .outerjoin(subject, col(subject.user_id) == AuditEntry.subject_id)
        .where(scope, *filters.conditions())
    )
    rows, cursor = await paginate(
        session,
        query,
        page,
        key=_entries.c.occurred_at,
        id_column=_entries.c.id,
        descending=True,
    )
    return [_read(*row) for row in rows], cursor


async def list_own(
    session: AsyncSession, user_id: uuid.UUID, filters: AuditFilters, page: PageParams
) -> tuple[list[AuditEntryRead], str | None]:
    """The caller's entries: what they did, and what concerned them, newest first."""
    scope = or_(_entries.c.actor_id == user_id, _entries.c.subject_id == user_id)
    return await _page(session, scope, filters, page)


async def list_team(
    session: AsyncSession, team_id: uuid.UUID, filters: AuditFilters, page: PageParams
) -> tuple[list[AuditEntryRead], str | None]:
    """The team's entries, newest first."""
    return await _page(session, _entries.c.team_id == team_id, filters, page)


# --- retention ------------------------------------------------------------------------------


async def purge_batch(uow: UnitOfWork, before: datetime, batch_size: int) -> int:
    """Delete up to ``batch_size`` of the entries that occurred before ``before``, oldest
    first, in one transaction (so none holds many rows): how many went."""
    ids = list(
        (
            await uow.session.execute(
                select(_entries.c.id)
                .where(_entries.c.occurred_at < before)
                .order_by(_entries.c.occurred_at)
                .limit(batch_size)
            )
        ).scalars()
    )
    if ids:
        await uow.session.execute(delete(_entries).where(_entries.c.id.in_(ids)))
        await uow.commit()
    return len(ids)
