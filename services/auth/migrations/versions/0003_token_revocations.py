"""Token revocations that every service loads: ``token_revocations``.

Each row is a ``taskflow.auth.tokens.revoked.v1`` event still worth knowing (until
the last token it covers expires), so a process that starts or reconnects loads
what it missed from auth's internal API.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from taskflow_chassis.types import UtcDateTime

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "token_revocations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("min_version", sa.Integer(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("token_revocations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_token_revocations_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index("ix_token_revocations_scope_key", ["scope", "key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("token_revocations", schema=None) as batch_op:
        batch_op.drop_index("ix_token_revocations_scope_key")
        batch_op.drop_index(batch_op.f("ix_token_revocations_expires_at"))
    op.drop_table("token_revocations")
