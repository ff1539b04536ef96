"""Teams count their membership changes: ``teams.membership_seq``.

Every membership event (member joined, removed, role changed, role updated, team
deleted) increments it in the transaction that writes the event and carries the
new value as ``team_seq``, so a replica (work's) applies them in order, ignores a
late one and detects a missing one. Existing teams start at 0.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("membership_seq", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_column("membership_seq")
