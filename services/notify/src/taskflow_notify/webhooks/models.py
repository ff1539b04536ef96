"""A team's webhook endpoints, and the deliveries waiting for them or done (the outbox)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_notify.tables import NotifyTable


class WebhookEndpoint(NotifyTable, table=True):
    __tablename__ = "webhook_endpoints"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    team_id: uuid.UUID = Field(index=True)
    url: str = Field(max_length=2000)
    description: str = Field(default="", max_length=200)
    # Space-separated CloudEvent types, sorted; "*" for every type a webhook may carry.
    event_type_list: str = Field(sa_column=Column("event_types", Text, nullable=False))
    # whsec_<base64>, encrypted with NOTIFY_WEBHOOK_SECRET_KEY (adapters.SecretCipher): every
    # delivery is signed with it, so it is kept recoverable, never readable in the database.
    secret: str = Field(max_length=400)
    # The secret before the last rotation, still signing (beside the new one) until then.
    previous_secret: str | None = Field(default=None, max_length=400)
    previous_secret_until: datetime | None = Field(
        default=None, sa_column=utc_column(nullable=True)
    )
    enabled: bool = True
    disabled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    disabled_reason: str | None = Field(default=None, max_length=500)
    # Raised once per delivery written: the endpoint's order of deliveries.
    delivery_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    created_by: uuid.UUID
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())

    @property
    def event_types(self) -> list[str]:
        return self.event_type_list.split()


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt, at next_attempt_at
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # every attempt failed for the retry horizon; redeliver by hand


class WebhookDelivery(NotifyTable, table=True):
    """One event for one endpoint: written in the transaction that consumed the event, sent
    by the delivery loop (webhooks/scheduled.py), in ``seq`` order per endpoint."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_seq", "endpoint_id", "seq", unique=True),
        Index("ix_webhook_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_endpoint_created", "endpoint_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    endpoint_id: uuid.UUID
    team_id: uuid.UUID
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The event's id and the endpoint's: one delivery per event and endpoint, whatever the
    # number of times the event arrives ("<endpoint>:<event>"; a redelivery by hand adds ":r<n>").
    dedupe_key: str = Field(max_length=200, unique=True)
    event_id: str = Field(max_length=100)
    event_type: str = Field(max_length=200)
    # The CloudEvent as the bus carried it: the body posted, byte for byte, on every attempt.
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    first_attempt_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_attempt_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # The last attempt's answer: its status code (none: no answer), latency and error.
    last_status_code: int | None = None
    last_latency_ms: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    # A delivery loop holds it while posting it; a hold past this time was a loop that died.
    held_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    redelivery_of: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    delivered_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
