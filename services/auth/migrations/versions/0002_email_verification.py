"""Email ownership: ``users.email_verified_at`` and ``email_verification_tokens``.

Sign-up sends a link that verifies the address; an email change sends one to the
new address and changes nothing until it is followed. Tokens are stored as their
SHA-256, single use, expiring and bound to the address they were sent to.
Existing accounts start unverified: nothing proved they receive their mail.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from taskflow_chassis.types import UtcDateTime

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_verified_at", UtcDateTime(), nullable=True))
    op.create_table(
        "email_verification_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("email_verification_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_email_verification_tokens_user_id"), ["user_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_email_verification_tokens_email"), ["email"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("email_verification_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_verification_tokens_email"))
        batch_op.drop_index(batch_op.f("ix_email_verification_tokens_user_id"))
    op.drop_table("email_verification_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("email_verified_at")
