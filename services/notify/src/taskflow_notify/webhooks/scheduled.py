"""The delivery loop: posts due deliveries, the oldest pending one of each endpoint at a time.

Why a loop in the API process rather than Celery jobs: a delivery is one HTTP request that
mostly waits, so one asyncio loop keeps many in flight at no cost per job, and the order
promised per endpoint (a delivery goes only once every earlier one of its endpoint is
delivered or failed) is one query here, where jobs in a queue would race each other. The
outbox rows are the state, as for email: a loop that dies mid-post leaves a hold that runs
out (``HOLD_SECONDS``), and several processes may run loops side by side (each delivery is
taken with a guarded update).

The loop is woken by every commit that wrote a delivery (or delivered one, so the
endpoint's next goes at once), and sweeps every ``webhook_sweep_seconds`` for retries that
have come due.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlmodel import col
from taskflow_chassis.db import Database
from taskflow_chassis.pump import CommitWokenLoop
from taskflow_chassis.types import table_of
from taskflow_chassis.unit_of_work import Publisher, UnitOfWork

from taskflow_notify.config import NotifySettings
from taskflow_notify.email.service import EmailTemplates
from taskflow_notify.webhooks import rules, service
from taskflow_notify.webhooks.adapters import Answer, SecretCipher, WebhookPoster
from taskflow_notify.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger("taskflow.notify.webhooks")

# A delivery is held this long by the loop posting it: longer than any attempt can take.
HOLD_SECONDS = 120.0


class WebhookSender(CommitWokenLoop):
    flag = service.DELIVERIES_WRITTEN
    name = "webhook-sender"

    def __init__(
        self,
        database: Database,
        poster: WebhookPoster,
        cipher: SecretCipher,
        publisher: Publisher,
        settings: NotifySettings,
        templates: EmailTemplates,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(
            database,
            interval=settings.webhook_sweep_seconds,
            batch_size=settings.webhook_concurrency,
        )
        self.poster = poster
        self.cipher = cipher
        self.publisher = publisher
        self.settings = settings
        self.templates = templates
        self.clock = clock

    async def start(self) -> None:
        """Seal the secrets an earlier version stored readable, then start the loop."""
        async with self.database.session() as session:
            sealed = await service.seal_readable_secrets(
                UnitOfWork(session, self.publisher), self.cipher
            )
        if sealed:
            logger.info("webhook secrets of %d endpoints encrypted at rest", sealed)
        await super().start()

    async def due(self, now: datetime) -> list[uuid.UUID]:
        """The head of each enabled endpoint's pending deliveries, where it is due and free."""
        earlier = table_of(WebhookDelivery).alias("earlier")
        head = (
            select(func.min(earlier.c.seq))
            .where(
                earlier.c.endpoint_id == WebhookDelivery.endpoint_id,
                earlier.c.status == DeliveryStatus.PENDING,
            )
            .scalar_subquery()
        )
        query = (
            select(col(WebhookDelivery.id))
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == WebhookDelivery.endpoint_id)
            .where(
                col(WebhookEndpoint.enabled).is_(True),
                col(WebhookDelivery.status) == DeliveryStatus.PENDING,
                col(WebhookDelivery.seq) == head,
                col(WebhookDelivery.next_attempt_at) <= now,
                or_(
                    col(WebhookDelivery.held_until).is_(None), col(WebhookDelivery.held_until) < now
                ),
            )
            .order_by(col(WebhookDelivery.next_attempt_at))
            .limit(self.batch_size)
        )
        async with self.database.read_sessionmaker() as session:
            return list((await session.execute(query)).scalars())

    async def run_once(self) -> int:
        now = self.clock()
        due = await self.due(now)
        if not due:
            return 0
        taken: list[uuid.UUID] = []
        async with self.database.session() as session:  # one commit holds them all
            uow = UnitOfWork(session, self.publisher)
            for delivery_id in due:
                if await service.hold(session, delivery_id, now, HOLD_SECONDS):
                    taken.append(delivery_id)
            await uow.commit()
        if not taken:
            return 0
        outcomes = await asyncio.gather(*(self.attempt(d) for d in taken), return_exceptions=True)
        for delivery_id, outcome in zip(taken, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                logger.error("webhook delivery %s: attempt not recorded: %r", delivery_id, outcome)
        return len(taken)

    async def attempt(self, delivery_id: uuid.UUID) -> service.Outcome:
        """Post one delivery once and record the outcome."""
        async with self.database.read_sessionmaker() as session:
            row = (
                await session.execute(
                    select(WebhookDelivery, WebhookEndpoint)
                    .join(WebhookEndpoint, col(WebhookEndpoint.id) == WebhookDelivery.endpoint_id)
                    .where(col(WebhookDelivery.id) == delivery_id)
                )
            ).first()
        if row is None or not row[1].enabled:
            # Disabled since it was taken (its creator left, say): nothing goes to it.
            return service.Outcome(delivered=False, disabled=False)
        delivery, endpoint = row
        now = self.clock()
        timestamp = int(now.timestamp())
        body = delivery.body.encode()
        message_id = str(delivery.id)
        try:
            secrets = service.secrets_in_use(endpoint, now, self.cipher)
        except service.UnreadableSecret as exc:
            # Never sent unsigned: a failed attempt, retried (the right key may come back).
            answer = Answer(status_code=None, latency_ms=0, error=str(exc))
        else:
            headers = {
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": rules.signature_header(secrets, message_id, timestamp, body),
            }
            answer = await self.poster.post(endpoint.url, body, headers)
        logger.info(
            "webhook delivery %s (%s) to endpoint %s, attempt %d: %s in %d ms%s",
            delivery.id,
            delivery.event_type,
            endpoint.id,
            delivery.attempts + 1,
            answer.status_code if answer.status_code is not None else "no answer",
            answer.latency_ms,
            "" if answer.ok else f" ({answer.error})",
        )
        async with self.database.session() as session:
            uow = UnitOfWork(session, self.publisher)
            return await service.record_attempt(
                uow, delivery.id, answer, self.clock(), self.settings, self.templates
            )
