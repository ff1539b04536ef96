"""The directory knows whose email is verified: ``directory.email_verified``.

Auth's user events carry ``email_verified``; only a verified address may see or
answer the invitations sent to it. Everyone starts unverified, as in auth.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("directory", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("email_verified", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("directory", schema=None) as batch_op:
        batch_op.drop_column("email_verified")
