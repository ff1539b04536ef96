"""``role_replicas``: each role's permissions as the newest team event that stated them, so
a member's permissions no longer depend on the order a role's edit and a change to that
role arrive in.

Roles start empty: the first event that states a role's permissions fills its row.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "role_replicas",
        sa.Column("role_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("permissions", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("role_id"),
    )
    with op.batch_alter_table("role_replicas", schema=None) as batch_op:
        batch_op.create_index("ix_role_replicas_team_id", ["team_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("role_replicas", schema=None) as batch_op:
        batch_op.drop_index("ix_role_replicas_team_id")
    op.drop_table("role_replicas")
