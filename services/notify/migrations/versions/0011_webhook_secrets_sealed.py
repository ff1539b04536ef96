"""Webhook signing secrets encrypted at rest: ``webhook_endpoints.secret`` and
``previous_secret`` widened to hold a Fernet token (about 170 characters for a secret).

Rows written before keep their readable secret until notify starts with this version: its
delivery loop encrypts them before its first pass (``service.seal_readable_secrets``), and
until then a readable one is still read. The migration itself has no key to encrypt with.
Down again, the columns narrow only when every secret fits (a readable one does; an
encrypted one stops the downgrade, which would cut it).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _resize(before: int, after: int) -> None:
    with op.batch_alter_table("webhook_endpoints", schema=None) as batch_op:
        for name, nullable in (("secret", False), ("previous_secret", True)):
            batch_op.alter_column(
                name,
                existing_type=sa.String(length=before),
                type_=sa.String(length=after),
                existing_nullable=nullable,
            )


def upgrade() -> None:
    _resize(100, 400)


def downgrade() -> None:
    longest = (
        op.get_bind()
        .execute(
            sa.text(
                "SELECT MAX(LENGTH(secret)), MAX(LENGTH(previous_secret)) FROM webhook_endpoints"
            )
        )
        .one()
    )
    if any((length or 0) > 100 for length in longest):
        raise RuntimeError(
            "webhook_endpoints holds encrypted secrets, longer than the 100 characters of "
            "0010's columns: this downgrade would cut them"
        )
    _resize(400, 100)
