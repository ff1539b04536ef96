"""Live events: what a user's open streams are sent, kept a while so a client that
reconnects gets what it missed; and each user's last event number."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index
from sqlmodel import Field
from taskflow_chassis.types import utc_column, utcnow

from taskflow_notify.tables import NotifyTable


class LiveEvent(NotifyTable, table=True):
    """One event for one user, numbered ``seq`` from 1 without gaps (the stream's ``id:``):
    written in the transaction of what caused it, pruned after the retention."""

    __tablename__ = "live_events"
    __table_args__ = (Index("ix_live_events_created", "created_at"),)

    user_id: uuid.UUID = Field(primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    kind: str = Field(max_length=32)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class LiveCursor(NotifyTable, table=True):
    """A user's last event number. Taking the next one updates this row, which holds its
    lock until the transaction ends: one user's events commit in the order of their
    numbers, so a reader that saw number n has seen every number below it."""

    __tablename__ = "live_cursors"

    user_id: uuid.UUID = Field(primary_key=True)
    seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
