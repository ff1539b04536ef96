"""A deleted team or project (restorable) is kept, hidden: ``team_replicas`` and
``project_replicas`` get ``deleted_at`` and ``restored_at``.

teams.team.deleted.v2 and work.project.deleted.v2 set ``deleted_at``; their restored
events set ``restored_at`` and clear it; a task of a deleted team or project gets no
reminder or notification. Every row written before starts visible, as it was.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from taskflow_chassis.types import UtcDateTime

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("team_replicas", "project_replicas")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("deleted_at", UtcDateTime(), nullable=True))
            batch_op.add_column(sa.Column("restored_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("restored_at")
            batch_op.drop_column("deleted_at")
