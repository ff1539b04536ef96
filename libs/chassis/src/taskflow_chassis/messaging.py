"""The outbox and inbox tables every service's database holds.

Plain SQLAlchemy Core tables in the chassis' own MetaData: one definition, used by
the relay and the consumer at run time and by each service's first migration.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text

from taskflow_chassis.types import UtcDateTime

messaging_metadata = MetaData()

outbox_table = Table(
    "outbox_messages",
    messaging_metadata,
    Column("id", String(36), primary_key=True),  # the event id
    Column("type", String(255), nullable=False),
    Column("payload", Text, nullable=False),  # the whole envelope, as JSON
    Column("created_at", UtcDateTime(), nullable=False),
    Column("published_at", UtcDateTime(), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text, nullable=True),
    Index("ix_outbox_messages_pending", "published_at", "created_at"),
)

inbox_table = Table(
    "inbox_messages",
    messaging_metadata,
    Column("event_id", String(36), primary_key=True),
    Column("event_type", String(255), nullable=False),
    Column("handled_at", UtcDateTime(), nullable=False),
)


def create_messaging_tables(op: Any) -> None:
    """For a service's first Alembic migration."""
    for table in (outbox_table, inbox_table):
        op.create_table(
            table.name,
            *[
                Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                for c in table.columns
            ],
        )
    op.create_index("ix_outbox_messages_pending", "outbox_messages", ["published_at", "created_at"])


def drop_messaging_tables(op: Any) -> None:
    op.drop_index("ix_outbox_messages_pending", table_name="outbox_messages")
    op.drop_table("inbox_messages")
    op.drop_table("outbox_messages")
