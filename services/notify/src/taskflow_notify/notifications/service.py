"""Turning facts into notifications: a feed row per recipient and an email where wanted.

Both carry a dedupe key made from their cause, so however often an event or a
scan comes round, one recipient gets one notification and one email.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.db import dialect_of_session, insert_or_ignore
from taskflow_chassis.etags import Precondition, lock
from taskflow_chassis.pagination import PageParams, paginate_by_time
from taskflow_chassis.problems import not_found
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import UnitOfWork

from taskflow_notify.email.service import EmailTemplates, OutgoingEmail, email_row, write_emails
from taskflow_notify.live import rules as live_rules
from taskflow_notify.live import service as live
from taskflow_notify.notifications.models import Kind, Notification, Preferences
from taskflow_notify.notifications.schemas import (
    NotificationRead,
    PreferencesPatch,
    PreferencesRead,
    PreferencesUpdate,
)
from taskflow_notify.replica.models import UserReplica
from taskflow_notify.replica.schemas import person_ref


@dataclass(frozen=True)
class Outgoing:
    """One notification to one recipient."""

    kind: Kind
    cause: str  # what caused it (event id, reminder key): the dedupe key's first half
    title: str
    body: str
    link: str | None
    user_id: uuid.UUID | None = None  # a feed row when the recipient has an account
    email: str | None = None  # an email when set (preferences already applied)
    context: dict[str, Any] | None = None  # template variables
    team_id: uuid.UUID | None = None
    project_id: uuid.UUID | None = None
    task_id: uuid.UUID | None = None
    actor_id: uuid.UUID | None = None


_notifications = table_of(Notification)

# Notification ids are made from their dedupe key, so the email of a notification can name
# it without reading it back, whether this delivery or an earlier one wrote it.
_NOTIFICATION_IDS = uuid.UUID("0b6f1c3e-5a41-4c8e-9e51-7d1f0c2a9b10")


class Deliveries:
    """What the handlers of one unit of work deliver (feed rows, their live events, emails),
    gathered and written together just before it commits: a few statements for a batch of
    events instead of several for each. The feed rows are written by the unit of work's
    ``LiveWrites``, which numbers their events with the task changes around them; the
    emails by ``write``.

    Nothing read while gathering depends on these rows (the recipients, their preferences
    and the task's visibility are read as each event comes); only a deleted account's
    erasure does, and it writes them first (``forget_user``)."""

    def __init__(self, session: AsyncSession, live_writes: live.LiveWrites) -> None:
        self.session = session
        self.live = live_writes
        self._notifications: dict[str, dict[str, Any]] = {}  # by dedupe key, in order
        self._emails: dict[str, dict[str, Any]] = {}
        self._written: dict[uuid.UUID, dict[str, Any]] = {}  # by id: those last written

    def add(self, templates: EmailTemplates, outgoing: Outgoing) -> None:
        """The feed row, its live event and the email; one with the cause and recipient of an
        earlier one (here or in the database) writes nothing."""
        recipient = str(outgoing.user_id or outgoing.email)
        key = f"{outgoing.kind}:{outgoing.cause}:{recipient}"[:200]
        notification_id = None
        if outgoing.user_id is not None:
            notification_id = uuid.uuid5(_NOTIFICATION_IDS, key)
            if key not in self._notifications:
                self._notifications[key] = _notification_row(outgoing, notification_id, key)
                self.live.add_notification(
                    self, outgoing.user_id, notification_id, outgoing.actor_id
                )
        if outgoing.email and key not in self._emails:
            email = OutgoingEmail(
                template=outgoing.kind,
                to=outgoing.email,
                dedupe_key=key,
                context=outgoing.context or {},
                notification_id=notification_id,
            )
            self._emails[key] = email_row(templates, email)

    async def write_new(self) -> set[uuid.UUID]:
        notifications, self._notifications = list(self._notifications.values()), {}
        self._written = {row["id"]: row for row in notifications}
        return await _insert_new(self.session, notifications)

    async def finish(
        self, events: list[live.GatheredEvent], actors: Mapping[uuid.UUID, UserReplica]
    ) -> None:
        """Each notification as the feed shows it, with the unread count it made: counted
        under the users' locks, after every notification here was written, so each is the
        final count less the user's notifications written after it."""
        unread = await _unread_counts(self.session, {event.user_id for event in events})
        for event in reversed(events):
            assert event.notification_id is not None
            row = self._written[event.notification_id]
            actor = actors.get(event.actor_id) if event.actor_id else None
            read = notification_read(Notification.model_validate(row), actor)
            unread_count = unread[event.user_id]
            event.payload = {**read.model_dump(mode="json"), "unread_count": unread_count}
            unread[event.user_id] -= 1

    async def write(self) -> None:
        """The feed rows (with their live events), then the emails."""
        await self.live.write()
        emails, self._emails = list(self._emails.values()), {}
        await write_emails(self.session, emails)


def _deliveries(uow: UnitOfWork) -> Deliveries:
    return Deliveries(uow.session, live.live_writes(uow))


def deliveries(uow: UnitOfWork) -> Deliveries:
    """The unit of work's deliveries, written when it commits."""
    return uow.gathered(_deliveries)


def _notification_row(outgoing: Outgoing, notification_id: uuid.UUID, key: str) -> dict[str, Any]:
    assert outgoing.user_id is not None
    return {
        "id": notification_id,
        "user_id": outgoing.user_id,
        "kind": str(outgoing.kind),
        "title": outgoing.title[:300],
        "body": outgoing.body,
        "link": outgoing.link,
        "team_id": outgoing.team_id,
        "project_id": outgoing.project_id,
        "task_id": outgoing.task_id,
        "actor_id": outgoing.actor_id,
        "dedupe_key": key,
        "created_at": utcnow(),
        "read_at": None,
    }


async def deliver(session: AsyncSession, templates: EmailTemplates, outgoing: Outgoing) -> None:
    """Write the feed row, its live event and the email now, in the caller's transaction; a
    second delivery with the same cause and recipient writes nothing (the dedupe keys are
    unique). Event handlers gather theirs instead (``deliveries``)."""
    writes = Deliveries(session, live.LiveWrites(session))
    writes.add(templates, outgoing)
    await writes.write()


async def _insert_new(session: AsyncSession, notifications: list[dict[str, Any]]) -> set[Any]:
    """Insert the notifications whose dedupe key is free, in one statement; answer the ids
    of those written. Where the insert says what it wrote (PostgreSQL, SQLite) that is all,
    else a look first."""
    if not notifications:
        return set()
    dialect = dialect_of_session(session)
    insert = insert_or_ignore(dialect, Notification, None, ["dedupe_key"])
    ids = [notification["id"] for notification in notifications]
    if dialect in {"postgresql", "sqlite"}:
        written = await session.execute(insert.returning(_notifications.c.id), notifications)
        return set(written.scalars())
    delivered_before = await session.execute(
        select(_notifications.c.id).where(_notifications.c.id.in_(ids))
    )
    known = set(delivered_before.scalars())
    await session.execute(insert, notifications)
    return set(ids) - known


# Built once, their values bound (taskflow_chassis.bound's reason: every assignment reads
# them).
_UNREAD_COUNTS = (
    select(_notifications.c.user_id, func.count())
    .where(
        _notifications.c.user_id.in_(bindparam("user_ids", expanding=True)),
        _notifications.c.read_at.is_(None),
    )
    .group_by(_notifications.c.user_id)
)
_PEOPLE = (
    select(UserReplica, Preferences)
    .outerjoin(Preferences, col(Preferences.user_id) == col(UserReplica.user_id))
    .where(col(UserReplica.user_id).in_(bindparam("user_ids", expanding=True)))
)


async def _unread_counts(session: AsyncSession, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not user_ids:
        return {}
    counts = await session.execute(_UNREAD_COUNTS, {"user_ids": list(user_ids)})
    found: dict[uuid.UUID, int] = {user_id: int(count) for user_id, count in counts.all()}
    return {user_id: found.get(user_id, 0) for user_id in user_ids}


async def unread(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """``{"unread_count": n}``: what the stream's ``unread`` event carries."""
    count = await session.execute(
        select(func.count())
        .select_from(_notifications)
        .where(_notifications.c.user_id == user_id, _notifications.c.read_at.is_(None))
    )
    return {"unread_count": int(count.scalar_one())}


async def _live_unread(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The unread count changed: every stream of the user (other tabs) keeps step."""

    async def payload() -> dict[str, Any]:
        await session.flush()
        return await unread(session, user_id)

    await live.append(session, user_id, live_rules.UNREAD, payload)


async def preferences(
    session: AsyncSession, user_id: uuid.UUID, default_lead_hours: int
) -> Preferences:
    found = await session.get(Preferences, user_id)
    return found or Preferences(user_id=user_id, reminder_lead_hours=default_lead_hours)


async def person(session: AsyncSession, user_id: uuid.UUID) -> UserReplica | None:
    return await session.get(UserReplica, user_id)


async def people(
    session: AsyncSession, *user_ids: uuid.UUID, default_lead_hours: int
) -> dict[uuid.UUID, tuple[UserReplica, Preferences]]:
    """Several people with their preferences, in one query, by id (the unknown ones are
    missing; one who never set preferences has the defaults)."""
    found = await session.execute(_PEOPLE, {"user_ids": list(set(user_ids))})
    return {
        user.user_id: (
            user,
            prefs or Preferences(user_id=user.user_id, reminder_lead_hours=default_lead_hours),
        )
        for user, prefs in found.all()
    }


def display(user: UserReplica | None, fallback: str = "Someone") -> str:
    if user is None:
        return fallback
    return user.display_name or user.username


# --- the feed -----------------------------------------------------------------------------


def notification_read(n: Notification, actor: UserReplica | None) -> NotificationRead:
    return NotificationRead(
        id=n.id,
        kind=n.kind,
        title=n.title,
        body=n.body,
        link=n.link,
        team_id=n.team_id,
        project_id=n.project_id,
        task_id=n.task_id,
        actor_id=n.actor_id,
        actor=person_ref(n.actor_id, actor) if n.actor_id else None,
        created_at=n.created_at,
        read_at=n.read_at,
    )


async def feed(
    session: AsyncSession, user_id: uuid.UUID, page: PageParams, unread: bool | None
) -> tuple[list[NotificationRead], str | None]:
    query = (
        select(Notification, UserReplica)
        .outerjoin(UserReplica, col(UserReplica.user_id) == col(Notification.actor_id))
        .where(col(Notification.user_id) == user_id)
    )
    if unread is True:
        query = query.where(col(Notification.read_at).is_(None))
    elif unread is False:
        query = query.where(col(Notification.read_at).is_not(None))
    rows, cursor = await paginate_by_time(
        session,
        query,
        page,
        time_column=_notifications.c.created_at,
        id_column=_notifications.c.id,
        descending=True,
    )
    return [notification_read(n, actor) for (n, actor) in rows], cursor


async def mark_read(
    uow: UnitOfWork, user_id: uuid.UUID, notification_id: uuid.UUID, now: datetime
) -> NotificationRead:
    notification = await uow.session.get(Notification, notification_id)
    if notification is None or notification.user_id != user_id:
        raise not_found("Notification", "You have no notification with this id.")
    if notification.read_at is None:
        notification.read_at = now
        uow.session.add(notification)
        await _live_unread(uow.session, user_id)
        await uow.commit()
    return notification_read(notification, await _actor(uow.session, notification))


async def _actor(session: AsyncSession, notification: Notification) -> UserReplica | None:
    if notification.actor_id is None:
        return None
    return await session.get(UserReplica, notification.actor_id)


async def mark_all_read(uow: UnitOfWork, user_id: uuid.UUID, now: datetime) -> int:
    result = await uow.session.execute(
        update(Notification)
        .where(col(Notification.user_id) == user_id, col(Notification.read_at).is_(None))
        .values(read_at=now)
    )
    marked = cast(CursorResult[Any], result).rowcount
    if marked:
        await _live_unread(uow.session, user_id)
    await uow.commit()
    return marked


def preferences_read(p: Preferences) -> PreferencesRead:
    return PreferencesRead(
        email_on_assignment=p.email_on_assignment,
        email_on_comment=p.email_on_comment,
        email_reminders=p.email_reminders,
        reminder_lead_hours=p.reminder_lead_hours,
    )


async def update_preferences(
    uow: UnitOfWork,
    user_id: uuid.UUID,
    data: PreferencesUpdate | PreferencesPatch,
    default_lead_hours: int,
    precondition: Precondition,
) -> PreferencesRead:
    """Sets the fields ``data`` carries (all of them for a PUT, those sent for a PATCH);
    one who never set preferences starts from the defaults. If-Match is compared with the
    preferences as they are, under their row's lock (the defaults' row written first)."""
    session = uow.session
    defaults = {"user_id": user_id, "reminder_lead_hours": default_lead_hours}
    await session.execute(
        insert_or_ignore(dialect_of_session(session), Preferences, defaults, ["user_id"])
    )
    row = await session.get_one(Preferences, user_id)
    await lock(session, row)
    precondition.check(preferences_read(row))
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(row, field, value)
    uow.session.add(row)
    await uow.commit()
    return preferences_read(row)


async def forget_user(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    """A deleted account's feed, preferences and live events go with it (those gathered
    in this unit of work written first, so they go too)."""
    await deliveries(uow).write()
    for table, column in (
        (Notification, col(Notification.user_id)),
        (Preferences, col(Preferences.user_id)),
    ):
        await uow.session.execute(delete(table).where(column == user_id))
    await live.forget_user(uow.session, user_id)
