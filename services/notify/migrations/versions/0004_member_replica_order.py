"""Memberships applied in teams' order: ``member_replicas.seq`` and ``active``.

Teams numbers each team's membership events (``team_seq``). A removal now leaves
its row behind, inactive, with the number that removed it, so a join that arrives
after it with a lower number (held in a retry queue, replayed from the dead-letter
queue) is recognised as older and ignored instead of adding the member back.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("member_replicas", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM member_replicas WHERE active = false"))
    with op.batch_alter_table("member_replicas", schema=None) as batch_op:
        batch_op.drop_column("active")
        batch_op.drop_column("seq")
