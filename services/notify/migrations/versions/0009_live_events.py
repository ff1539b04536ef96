"""Live events for the notification stream: ``live_events`` (a user's events, numbered,
pruned after the retention) and ``live_cursors`` (each user's last number).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from taskflow_chassis.types import UtcDateTime

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_events",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "seq"),
    )
    with op.batch_alter_table("live_events", schema=None) as batch_op:
        batch_op.create_index("ix_live_events_created", ["created_at"], unique=False)
    op.create_table(
        "live_cursors",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade() -> None:
    op.drop_table("live_cursors")
    with op.batch_alter_table("live_events", schema=None) as batch_op:
        batch_op.drop_index("ix_live_events_created")
    op.drop_table("live_events")
