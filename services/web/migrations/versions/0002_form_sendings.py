"""Web's form sendings: a form's change made once across web's processes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from taskflow_chassis.types import UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "web_form_sendings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("headers", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("web_form_sendings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_web_form_sendings_claimed_at"), ["claimed_at"], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("web_form_sendings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_web_form_sendings_claimed_at"))
    op.drop_table("web_form_sendings")
