"""Work's replica of teams applies membership events in teams' order.

``team_replicas.membership_seq`` is the ``team_seq`` of the last membership event
applied (or of the last resync from teams); an older or repeated event is ignored.
``resync_needed`` marks a team whose events came with a gap: its rows are not
trusted (every access reads through to teams) until the reconciler replaces them
from teams' internal API. ``member_replicas.resync_needed`` is the same flag on
each row of the team, so the authorization reading a row needs no second read.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("team_replicas", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("membership_seq", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("resync_needed", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(
            batch_op.f("ix_team_replicas_resync_needed"), ["resync_needed"], unique=False
        )
    with op.batch_alter_table("member_replicas", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("resync_needed", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("member_replicas", schema=None) as batch_op:
        batch_op.drop_column("resync_needed")
    with op.batch_alter_table("team_replicas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_team_replicas_resync_needed"))
        batch_op.drop_column("resync_needed")
        batch_op.drop_column("membership_seq")
