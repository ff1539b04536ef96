"""A demo table."""

import sqlalchemy as sa
from alembic import op
from taskflow_chassis.messaging import create_messaging_tables, drop_messaging_tables

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table("demo", sa.Column("id", sa.Integer, primary_key=True))
    create_messaging_tables(op)


def downgrade() -> None:
    drop_messaging_tables(op)
    op.drop_table("demo")
