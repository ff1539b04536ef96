"""Idempotency keys: ``idempotency_keys``, the chassis' record of each POST sent with an
``Idempotency-Key`` (its fingerprint, whether its change committed, its answer for 24 h).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

"""

from collections.abc import Sequence

from alembic import op
from taskflow_chassis.idempotency import create_idempotency_table, drop_idempotency_table

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_idempotency_table(op)


def downgrade() -> None:
    drop_idempotency_table(op)
