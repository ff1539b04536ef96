"""A deleted team is kept for 30 days, restorable: ``teams.deleted_at``.

DELETE sets it (the team is hidden from every read and write); restoring clears it;
the scheduled purge erases the teams whose ``deleted_at`` is 30 days old. Indexed:
the purge looks for them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from taskflow_chassis.types import UtcDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", UtcDateTime(), nullable=True))
        batch_op.create_index("ix_teams_deleted_at", ["deleted_at"])


def downgrade() -> None:
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_index("ix_teams_deleted_at")
        batch_op.drop_column("deleted_at")
