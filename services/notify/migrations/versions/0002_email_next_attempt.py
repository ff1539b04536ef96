"""Emails keep their next attempt: the dispatcher queues a retry when it is due.

``next_attempt_at`` is when a pending email may be tried again (empty: at once, as
for every row already there), ``first_attempt_at`` when its current run of attempts
began (the retry horizon counts from it). The index on ``status`` becomes one on
``(status, next_attempt_at)``, the dispatcher's question.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from taskflow_chassis.types import UtcDateTime

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("email_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", UtcDateTime(), nullable=True))
        batch_op.add_column(sa.Column("first_attempt_at", UtcDateTime(), nullable=True))
        batch_op.create_index(
            "ix_email_messages_status_next_attempt", ["status", "next_attempt_at"], unique=False
        )
        batch_op.drop_index("ix_email_messages_status")


def downgrade() -> None:
    with op.batch_alter_table("email_messages", schema=None) as batch_op:
        batch_op.create_index("ix_email_messages_status", ["status"], unique=False)
        batch_op.drop_index("ix_email_messages_status_next_attempt")
        batch_op.drop_column("first_attempt_at")
        batch_op.drop_column("next_attempt_at")
