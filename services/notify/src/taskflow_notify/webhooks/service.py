"""What the webhook routes, handlers and delivery loop call.

Deliveries are an outbox: the consumer that applies an event writes one delivery per
matching endpoint in the transaction that records the event in its inbox, so a
redelivered event makes no second delivery; the delivery loop (webhooks/scheduled.py)
posts them. Each endpoint numbers its deliveries (``seq``) and gets them in that order:
a delivery waits while an earlier one of its endpoint is pending.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from taskflow_chassis.db import dialect_of_session, insert_or_ignore, rows_matched
from taskflow_chassis.etags import Precondition, lock
from taskflow_chassis.events import CloudEvent
from taskflow_chassis.pagination import PageParams, paginate
from taskflow_chassis.problems import ProblemError, conflict, invalid_field, not_found
from taskflow_chassis.pump import mark_session
from taskflow_chassis.types import table_of, utcnow
from taskflow_chassis.unit_of_work import UnitOfWork
from taskflow_contracts import permissions as P

from taskflow_notify.access import TeamAccess
from taskflow_notify.config import NotifySettings
from taskflow_notify.email.service import EmailTemplates, OutgoingEmail, write_email
from taskflow_notify.replica.models import MemberReplica, TeamReplica, UserReplica
from taskflow_notify.webhooks import rules
from taskflow_notify.webhooks.adapters import Answer, RefusedAddress, SecretCipher, WebhookPoster
from taskflow_notify.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from taskflow_notify.webhooks.schemas import (
    DeliveryRead,
    WebhookCreate,
    WebhookRead,
    WebhookUpdate,
    WebhookWithSecret,
)

logger = logging.getLogger("taskflow.notify.webhooks")

# Endpoints a team may register.
MAX_ENDPOINTS_PER_TEAM = 20
_deliveries = table_of(WebhookDelivery)
# Set on a session whose commit wrote deliveries: the delivery loop wakes (WebhookSender.flag).
DELIVERIES_WRITTEN = "taskflow_webhook_deliveries_written"


# --- endpoints ------------------------------------------------------------------------------


def endpoint_read(endpoint: WebhookEndpoint, now: datetime) -> WebhookRead:
    return WebhookRead(
        id=endpoint.id,
        team_id=endpoint.team_id,
        url=endpoint.url,
        description=endpoint.description,
        event_types=endpoint.event_types,
        enabled=endpoint.enabled,
        disabled_at=endpoint.disabled_at,
        disabled_reason=endpoint.disabled_reason,
        rotation_ends_at=_grace_end(endpoint, now),
        created_by=endpoint.created_by,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def _with_secret(endpoint: WebhookEndpoint, now: datetime, secret: str) -> WebhookWithSecret:
    return WebhookWithSecret(**endpoint_read(endpoint, now).model_dump(), secret=secret)


def _grace_end(endpoint: WebhookEndpoint, now: datetime) -> datetime | None:
    until = endpoint.previous_secret_until
    return until if endpoint.previous_secret and until is not None and until > now else None


class UnreadableSecret(Exception):
    """The endpoint's secret was encrypted with another key than this one."""


def secrets_in_use(endpoint: WebhookEndpoint, now: datetime, cipher: SecretCipher) -> list[str]:
    """The secrets a delivery is signed with now: the current one, and during a rotation's
    grace the one before it (left out if this key cannot read it)."""
    current = cipher.open(endpoint.secret)
    if current is None:
        raise UnreadableSecret(
            f"the secret of webhook {endpoint.id} cannot be read with this "
            f"{SecretCipher.setting.variable} (was the key changed?)"
        )
    stored = endpoint.previous_secret if _grace_end(endpoint, now) else None
    previous = cipher.open(stored) if stored else None
    return [current, *([previous] if previous else [])]


async def seal_readable_secrets(uow: UnitOfWork, cipher: SecretCipher) -> int:
    """Encrypt the secrets an earlier version stored readable; how many endpoints had one."""
    readable = f"{rules.SECRET_PREFIX}%"
    endpoints = (
        await uow.session.execute(
            select(WebhookEndpoint)
            .where(
                col(WebhookEndpoint.secret).like(readable)
                | col(WebhookEndpoint.previous_secret).like(readable)
            )
            .with_for_update()
        )
    ).scalars()
    sealed = 0
    for endpoint in endpoints:
        endpoint.secret = cipher.seal(endpoint.secret)
        if endpoint.previous_secret is not None:
            endpoint.previous_secret = cipher.seal(endpoint.previous_secret)
        uow.session.add(endpoint)
        sealed += 1
    await uow.commit()
    return sealed


async def _check_url(poster: WebhookPoster, url: str, team_id: uuid.UUID) -> None:
    try:
        await poster.check(url)
    except RefusedAddress as exc:
        # Why, in the log only: the answer never tells what a name resolves to.
        logger.info("webhook address %s refused for team %s: %s", url, team_id, exc)
        raise invalid_field(
            "url",
            "Address refused",
            f"Webhooks are not sent there: {rules.REFUSED_ADDRESS}.",
            type="webhook-address-refused",
        ) from exc


def check_token_scopes(token_scopes: frozenset[str] | None, event_types: list[str]) -> None:
    """403 for a personal API token lacking the read scope of an event type it would
    subscribe an endpoint to: what the endpoint receives is what it could read. A session
    (``None``) reads everything of its team."""
    if token_scopes is None:
        return
    missing = rules.missing_read_scopes(event_types, token_scopes)
    if missing:
        raise ProblemError(
            403,
            "Insufficient scope",
            f"This API token lacks the scope {', '.join(missing)}: an endpoint receives the "
            "data of its event types, so a token subscribing one needs each one's read scope.",
            type="insufficient-scope",
            scopes=missing,
        )


async def create_endpoint(
    uow: UnitOfWork,
    access: TeamAccess,
    data: WebhookCreate,
    poster: WebhookPoster,
    cipher: SecretCipher,
    now: datetime,
    token_scopes: frozenset[str] | None,
) -> WebhookWithSecret:
    check_token_scopes(token_scopes, data.event_types)
    await _check_url(poster, data.url, access.team_id)
    session = uow.session
    await _hold_team(session, access.team_id)
    # A locking read: MariaDB's repeatable read would count from an older snapshot.
    held = await session.execute(
        select(col(WebhookEndpoint.id))
        .where(col(WebhookEndpoint.team_id) == access.team_id)
        .with_for_update()
    )
    if len(held.all()) >= MAX_ENDPOINTS_PER_TEAM:
        raise conflict(
            "Too many webhooks",
            f"A team may register at most {MAX_ENDPOINTS_PER_TEAM} webhook endpoints.",
            type="webhook-limit",
            field="url",
        )
    secret = rules.new_secret()
    endpoint = WebhookEndpoint(
        team_id=access.team_id,
        url=data.url,
        description=data.description,
        event_type_list=rules.normalised_event_types(data.event_types),
        secret=cipher.encrypt(secret),
        created_by=access.user_id,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await uow.commit()
    return _with_secret(endpoint, now, secret)


async def _hold_team(session: AsyncSession, team_id: uuid.UUID) -> None:
    """Take the team's replica row (made, unnamed, if the replica has none yet) until the
    transaction ends, so that creations at the same instant count one after the other and
    none passes the limit. A write that changes nothing, which every database serialises
    (SQLite ignores SELECT ... FOR UPDATE)."""
    dialect = dialect_of_session(session)
    await session.execute(
        insert_or_ignore(dialect, TeamReplica, {"team_id": team_id, "name": ""}, ["team_id"])
    )
    await session.execute(
        update(TeamReplica)
        .where(col(TeamReplica.team_id) == team_id)
        .values(team_id=col(TeamReplica.team_id))
        .execution_options(synchronize_session=False)
    )


async def list_endpoints(session: AsyncSession, team_id: uuid.UUID) -> list[WebhookEndpoint]:
    return list(
        (
            await session.execute(
                select(WebhookEndpoint)
                .where(col(WebhookEndpoint.team_id) == team_id)
                .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
            )
        ).scalars()
    )


async def get_endpoint(
    session: AsyncSession, team_id: uuid.UUID, endpoint_id: uuid.UUID, *, lock: bool = False
) -> WebhookEndpoint:
    query = select(WebhookEndpoint).where(
        col(WebhookEndpoint.id) == endpoint_id, col(WebhookEndpoint.team_id) == team_id
    )
    endpoint = (await session.execute(query.with_for_update() if lock else query)).scalar()
    if endpoint is None:
        raise not_found("Webhook", "This team has no webhook with this id.")
    return endpoint


async def update_endpoint(
    uow: UnitOfWork,
    access: TeamAccess,
    endpoint_id: uuid.UUID,
    data: WebhookUpdate,
    poster: WebhookPoster,
    now: datetime,
    precondition: Precondition,
    token_scopes: frozenset[str] | None,
) -> WebhookRead:
    if data.url is not None:
        await _check_url(poster, data.url, access.team_id)
    endpoint = await get_endpoint(uow.session, access.team_id, endpoint_id, lock=True)
    precondition.check(endpoint_read(endpoint, now))
    redirects = data.url is not None or data.event_types is not None or data.enabled is True
    if redirects:
        check_token_scopes(token_scopes, data.event_types or endpoint.event_types)
    if data.url is not None:
        endpoint.url = data.url
    if data.description is not None:
        endpoint.description = data.description
    if data.event_types is not None:
        endpoint.event_type_list = rules.normalised_event_types(data.event_types)
    if data.url is not None or (data.enabled is True and not endpoint.enabled):
        # Who chose where it posts, or let it post again, answers for it from now: it is
        # disabled when they leave the team or lose webhooks.manage (disable_orphaned).
        endpoint.created_by = access.user_id
    if data.enabled is True and not endpoint.enabled:
        # Re-enabled by hand: its pending deliveries go again, in order, from now.
        endpoint.enabled, endpoint.disabled_at, endpoint.disabled_reason = True, None, None
        await uow.session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.endpoint_id) == endpoint.id,
                col(WebhookDelivery.status) == DeliveryStatus.PENDING,
            )
            .values(next_attempt_at=now)
        )
        mark_deliveries_written(uow.session)
    elif data.enabled is False and endpoint.enabled:
        endpoint.enabled, endpoint.disabled_at = False, now
        endpoint.disabled_reason = "Disabled by hand."
    endpoint.updated_at = now
    uow.session.add(endpoint)
    await uow.commit()
    return endpoint_read(endpoint, now)


async def delete_endpoint(
    uow: UnitOfWork,
    team_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    now: datetime,
    precondition: Precondition,
) -> None:
    endpoint = await get_endpoint(uow.session, team_id, endpoint_id, lock=True)
    precondition.check(endpoint_read(endpoint, now))
    await uow.session.execute(
        delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint.id)
    )
    await uow.session.delete(endpoint)
    await uow.commit()


async def rotate_secret(
    uow: UnitOfWork,
    team_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    now: datetime,
    grace: float,
    cipher: SecretCipher,
) -> WebhookWithSecret:
    """A new secret; the current one keeps signing beside it for ``grace`` seconds (a second
    rotation within the grace ends the first one's: only two secrets are ever in use)."""
    endpoint = await get_endpoint(uow.session, team_id, endpoint_id, lock=True)
    endpoint.previous_secret = cipher.seal(endpoint.secret) if grace > 0 else None
    endpoint.previous_secret_until = now + timedelta(seconds=grace) if grace > 0 else None
    secret = rules.new_secret()
    endpoint.secret = cipher.encrypt(secret)
    endpoint.updated_at = now
    uow.session.add(endpoint)
    await uow.commit()
    return _with_secret(endpoint, now, secret)


# --- deliveries -----------------------------------------------------------------------------


def delivery_read(delivery: WebhookDelivery) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=(
            delivery.next_attempt_at if delivery.status == DeliveryStatus.PENDING else None
        ),
        last_attempt_at=delivery.last_attempt_at,
        last_status_code=delivery.last_status_code,
        last_latency_ms=delivery.last_latency_ms,
        last_error=delivery.last_error,
        redelivery_of=delivery.redelivery_of,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )


async def list_deliveries(
    session: AsyncSession,
    team_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    page: PageParams,
    status: DeliveryStatus | None,
) -> tuple[list[DeliveryRead], str | None]:
    """Newest first (the endpoint's order, backwards)."""
    await get_endpoint(session, team_id, endpoint_id)
    query = select(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint_id)
    if status is not None:
        query = query.where(col(WebhookDelivery.status) == status)
    rows, cursor = await paginate(
        session,
        query,
        page,
        key=_deliveries.c.seq,
        id_column=_deliveries.c.id,
        descending=True,
    )
    return [delivery_read(row[0]) for row in rows], cursor


def mark_deliveries_written(session: AsyncSession) -> None:
    mark_session(session, DELIVERIES_WRITTEN)


async def _next_seq(session: AsyncSession, endpoint_id: uuid.UUID) -> int:
    """The endpoint's next number: raised in this transaction, which holds the row until
    it ends, so two transactions never take the same one."""
    await session.execute(
        update(WebhookEndpoint)
        .where(col(WebhookEndpoint.id) == endpoint_id)
        .values(delivery_seq=col(WebhookEndpoint.delivery_seq) + 1)
        .execution_options(synchronize_session=False)
    )
    seq: int = (
        await session.execute(
            select(col(WebhookEndpoint.delivery_seq)).where(col(WebhookEndpoint.id) == endpoint_id)
        )
    ).scalar_one()
    return seq


async def _write_delivery(
    session: AsyncSession, endpoint_id: uuid.UUID, team_id: uuid.UUID, values: dict[str, Any]
) -> None:
    row = {
        "id": uuid.uuid4(),
        "endpoint_id": endpoint_id,
        "team_id": team_id,
        "seq": await _next_seq(session, endpoint_id),
        "status": str(DeliveryStatus.PENDING),
        "attempts": 0,
        **values,
    }
    await session.execute(
        insert_or_ignore(dialect_of_session(session), WebhookDelivery, row, ["dedupe_key"])
    )
    mark_deliveries_written(session)


EnabledEndpoints = list[tuple[uuid.UUID, str]]


async def enabled_endpoints(session: AsyncSession, team_id: uuid.UUID) -> EnabledEndpoints:
    """The team's enabled endpoints: each one's id and the event types it wants."""
    found = await session.execute(_ENABLED_ENDPOINTS, {"team_id": team_id})
    return [(endpoint_id, types) for endpoint_id, types in found]


# Built once (taskflow_chassis.bound's reason): every event about a team reads it.
_ENABLED_ENDPOINTS = select(col(WebhookEndpoint.id), col(WebhookEndpoint.event_type_list)).where(
    col(WebhookEndpoint.team_id) == bindparam("team_id"),
    col(WebhookEndpoint.enabled).is_(True),
)


async def enqueue_event(
    session: AsyncSession, team_id: uuid.UUID, event: CloudEvent, endpoints: EnabledEndpoints
) -> int:
    """One delivery of ``event`` per endpoint of ``endpoints`` (the team's enabled ones)
    that wants its type, in the caller's (the consumer's) transaction; answer how many
    endpoints matched."""
    matched = [endpoint_id for endpoint_id, types in endpoints if rules.wants(types, event.type)]
    if not matched:
        return 0
    body, now = event.to_json().decode(), utcnow()
    for endpoint_id in matched:
        values: dict[str, Any] = {
            "dedupe_key": f"{endpoint_id}:{event.id}",
            "event_id": event.id,
            "event_type": event.type,
            "body": body,
            "created_at": now,
            "next_attempt_at": now,
        }
        await _write_delivery(session, endpoint_id, team_id, values)
    return len(matched)


async def redeliver(
    uow: UnitOfWork,
    team_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    delivery_id: uuid.UUID,
    now: datetime,
) -> DeliveryRead:
    """A new delivery of the same event (a new webhook-id, the same body), after the
    endpoint's others; refused while the original is still pending."""
    session = uow.session
    endpoint = await get_endpoint(session, team_id, endpoint_id)
    original = (
        await session.execute(
            select(WebhookDelivery).where(
                col(WebhookDelivery.id) == delivery_id,
                col(WebhookDelivery.endpoint_id) == endpoint.id,
            )
        )
    ).scalar()
    if original is None:
        raise not_found("Delivery", "This webhook has no delivery with this id.")
    if original.status == DeliveryStatus.PENDING:
        raise conflict(
            "Delivery pending",
            "This delivery is still being tried; redeliver it once it is delivered or failed.",
            type="delivery-pending",
            field="delivery_id",
            loc=["path", "delivery_id"],
        )
    new_id = uuid.uuid4()
    await _write_delivery(
        session,
        endpoint.id,
        team_id,
        {
            "id": new_id,
            "dedupe_key": f"{endpoint.id}:{original.event_id}:r{new_id.hex}",
            "event_id": original.event_id,
            "event_type": original.event_type,
            "body": original.body,
            "redelivery_of": original.id,
            "created_at": now,
            "next_attempt_at": now,
        },
    )
    await uow.commit()
    created = await session.get(WebhookDelivery, new_id)
    if created is None:  # pragma: no cover - written above in this session
        raise ProblemError(500, "Redelivery lost")
    return delivery_read(created)


async def forget_team(session: AsyncSession, team_id: uuid.UUID) -> None:
    """The team is gone for good: its endpoints and deliveries with it."""
    await session.execute(delete(WebhookDelivery).where(col(WebhookDelivery.team_id) == team_id))
    await session.execute(delete(WebhookEndpoint).where(col(WebhookEndpoint.team_id) == team_id))


# --- attempts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    disabled: bool


async def record_attempt(
    uow: UnitOfWork,
    delivery_id: uuid.UUID,
    answer: Answer,
    attempted_at: datetime,
    settings: NotifySettings,
    templates: EmailTemplates,
) -> Outcome:
    """Write an attempt's outcome: delivered; or pending again after a back-off; or, when
    every attempt failed for the retry horizon, failed, with its endpoint disabled and the
    team's webhook managers told by email."""
    session = uow.session
    delivery = await session.get(WebhookDelivery, delivery_id)
    try:
        if delivery is not None:
            # The row's lock on every database (SQLite ignores FOR UPDATE): a stop committed
            # meanwhile (its endpoint disabled) is seen here, not overwritten by this attempt.
            await lock(session, delivery)
    except ProblemError:  # deleted meanwhile
        delivery = None
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return Outcome(delivered=False, disabled=False)  # deleted, or redone by another loop
    delivery.attempts += 1
    delivery.first_attempt_at = delivery.first_attempt_at or attempted_at
    delivery.last_attempt_at = attempted_at
    delivery.last_status_code, delivery.last_latency_ms = answer.status_code, answer.latency_ms
    delivery.last_error = answer.error[:500] if answer.error else None
    delivery.held_until = None
    disabled = False
    if answer.ok:
        delivery.status, delivery.delivered_at = DeliveryStatus.DELIVERED, attempted_at
    else:
        horizon = timedelta(hours=settings.webhook_retry_horizon_hours)
        if attempted_at - delivery.first_attempt_at >= horizon:
            delivery.status = DeliveryStatus.FAILED
            disabled = await _disable(session, delivery, attempted_at, templates, settings)
        else:
            delay = rules.retry_delay(
                delivery.attempts,
                settings.webhook_retry_floor_seconds,
                settings.webhook_retry_max_seconds,
            )
            delivery.next_attempt_at = attempted_at + timedelta(seconds=delay)
    session.add(delivery)
    if answer.ok:
        mark_deliveries_written(session)  # the endpoint's next one may go now
    await uow.commit()
    return Outcome(delivered=answer.ok, disabled=disabled)


async def _disable(
    session: AsyncSession,
    delivery: WebhookDelivery,
    now: datetime,
    templates: EmailTemplates,
    settings: NotifySettings,
) -> bool:
    endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id, with_for_update=True)
    if endpoint is None or not endpoint.enabled:
        return False
    hours = settings.webhook_retry_horizon_hours
    endpoint.enabled, endpoint.disabled_at = False, now
    endpoint.disabled_reason = (
        f"Every attempt of a delivery failed for {hours:g} h "
        f"(the last: {delivery.last_error or 'no answer'})."
    )[:500]
    session.add(endpoint)
    await _tell_managers(session, endpoint, "webhook_disabled", now, templates, settings)
    logger.warning(
        "webhook %s of team %s disabled: %s",
        endpoint.id,
        endpoint.team_id,
        endpoint.disabled_reason,
    )
    return True


async def _tell_managers(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    template: str,
    now: datetime,
    templates: EmailTemplates,
    settings: NotifySettings,
) -> None:
    """Email the team's active members holding webhooks.manage why ``endpoint`` was disabled."""
    team = await session.get(TeamReplica, endpoint.team_id)
    managers = (
        await session.execute(
            select(UserReplica, MemberReplica)
            .join(MemberReplica, col(MemberReplica.user_id) == UserReplica.user_id)
            .where(
                col(MemberReplica.team_id) == endpoint.team_id,
                col(MemberReplica.active).is_(True),
            )
        )
    ).all()
    link = f"{settings.public_url.rstrip('/')}/teams/{endpoint.team_id}/webhooks"
    for person, member in managers:
        if P.WEBHOOKS_MANAGE not in member.permissions:
            continue
        await write_email(
            session,
            templates,
            OutgoingEmail(
                template=template,
                to=person.email,
                dedupe_key=f"{template}:{endpoint.id}:{now.isoformat()}:{person.user_id}"[:200],
                context={
                    "name": person.display_name or person.username,
                    "team": team.name if team and team.name else "your team",
                    "url": endpoint.url,
                    "reason": endpoint.disabled_reason,
                    "link": link,
                },
            ),
        )


def _lost_access(member: MemberReplica | None) -> str | None:
    """How an endpoint's creator no longer answers for it (None: they still do). A member
    whose permissions the replica never knew keeps theirs until an event says otherwise."""
    if member is None or not member.active:
        return "left the team"
    if member.permission_list is not None and P.WEBHOOKS_MANAGE not in member.permissions:
        return "no longer holds the webhooks.manage permission"
    return None


async def disable_orphaned(
    session: AsyncSession,
    team_id: uuid.UUID,
    now: datetime,
    templates: EmailTemplates,
    settings: NotifySettings,
) -> int:
    """After a membership or role event: disable each enabled endpoint of the team whose
    creator left it or lost webhooks.manage (its URL is theirs, the team's data is not),
    stop its pending deliveries, and email the team's webhook managers; a manager who
    enables it again answers for it. Answer how many were disabled."""
    endpoints = (
        await session.execute(
            select(WebhookEndpoint)
            .where(col(WebhookEndpoint.team_id) == team_id, col(WebhookEndpoint.enabled).is_(True))
            .with_for_update()
        )
    ).scalars()
    disabled = 0
    for endpoint in list(endpoints):
        member = await session.get(MemberReplica, (team_id, endpoint.created_by))
        lost = _lost_access(member)
        if lost is None:
            continue
        creator = await session.get(UserReplica, endpoint.created_by)
        who = (creator.display_name or creator.username) if creator else "the member"
        endpoint.enabled, endpoint.disabled_at, endpoint.updated_at = False, now, now
        endpoint.disabled_reason = (
            f"Disabled because {who}, who registered it, {lost}. A webhook manager may "
            "enable it again, and then answers for it."
        )[:500]
        session.add(endpoint)
        await _stop_pending(session, endpoint)
        await _tell_managers(session, endpoint, "webhook_orphaned", now, templates, settings)
        logger.warning(
            "webhook %s of team %s disabled: its creator %s %s",
            endpoint.id,
            team_id,
            endpoint.created_by,
            lost,
        )
        disabled += 1
    return disabled


async def _stop_pending(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    """The endpoint's pending deliveries fail now and never go by themselves (enabling it
    again sends only what comes after; a manager may redeliver one by hand)."""
    await session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.endpoint_id) == endpoint.id,
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
        )
        .values(
            status=DeliveryStatus.FAILED,
            held_until=None,
            last_error="not sent: the endpoint was disabled when its creator lost access",
        )
        .execution_options(synchronize_session=False)
    )


async def hold(session: AsyncSession, delivery_id: uuid.UUID, now: datetime, lease: float) -> bool:
    """Take a delivery for one attempt (a guarded update): false when another loop has it."""
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == delivery_id,
            col(WebhookDelivery.status) == DeliveryStatus.PENDING,
            (col(WebhookDelivery.held_until).is_(None)) | (col(WebhookDelivery.held_until) < now),
        )
        .values(held_until=now + timedelta(seconds=lease))
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result) == 1
