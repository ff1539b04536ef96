"""The outbox and inbox tables every service's database holds.

Plain SQLAlchemy Core tables in the chassis' own MetaData: one definition, used by
the relay and the consumer at run time, by tests (``messaging_metadata.create_all``)
and by each service's first migration (``create_messaging_tables(op)``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, text
from sqlalchemy.schema import SchemaItem

from taskflow_chassis.types import UtcDateTime

__all__ = [
    "create_messaging_tables",
    "drop_messaging_tables",
    "inbox_table",
    "messaging_metadata",
    "outbox_table",
]

OUTBOX_TABLE = "outbox_messages"
INBOX_TABLE = "inbox_messages"
OUTBOX_PENDING_INDEX = "ix_outbox_messages_pending"


def _outbox_schema() -> list[SchemaItem]:
    # A function, not a list: the table and each migration need their own Column objects.
    return [
        Column("id", String(36), primary_key=True),  # the event id
        Column("type", String(255), nullable=False),
        Column("payload", Text, nullable=False),  # the whole envelope, as JSON
        Column("created_at", UtcDateTime(), nullable=False),
        Column("published_at", UtcDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, default=0, server_default=text("0")),
        Column("last_error", Text, nullable=True),
        Index(OUTBOX_PENDING_INDEX, "published_at", "created_at"),
    ]


def _inbox_schema() -> list[SchemaItem]:
    return [
        Column("event_id", String(36), primary_key=True),
        Column("event_type", String(255), nullable=False),
        Column("handled_at", UtcDateTime(), nullable=False),
    ]


messaging_metadata = MetaData()
outbox_table = Table(OUTBOX_TABLE, messaging_metadata, *_outbox_schema())
inbox_table = Table(INBOX_TABLE, messaging_metadata, *_inbox_schema())


def create_messaging_tables(op: Any) -> None:
    """Create both tables (and the outbox index) from a service's first Alembic migration."""
    op.create_table(OUTBOX_TABLE, *_outbox_schema())  # Alembic creates the Index too
    op.create_table(INBOX_TABLE, *_inbox_schema())


def drop_messaging_tables(op: Any) -> None:
    """The matching ``downgrade`` step."""
    op.drop_index(OUTBOX_PENDING_INDEX, table_name=OUTBOX_TABLE)
    op.drop_table(INBOX_TABLE)
    op.drop_table(OUTBOX_TABLE)
