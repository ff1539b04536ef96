"""Each notification carries the ids of what it is about (team, project, task) as fields,
beside its link (null for the rows written before, and for what is about none).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("team_id", "project_id", "task_id")


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
