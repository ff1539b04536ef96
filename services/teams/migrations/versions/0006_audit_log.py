"""The security audit log: ``audit_entries``, one per event that told a security fact
(unique by event id); and the catalogue's two new permissions, ``audit.read`` and
``webhooks.manage``, for every team's Team Leader role (which holds every permission).

Built-in roles' grants are stored per team (``roles.permissions``), so the leader roles
of teams created before the permissions existed get them here; every role created from
now on gets them from the catalogue. The downgrade takes them from every role again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from taskflow_chassis.types import UtcDateTime

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: a migration says what it did when it was written.
NEW_PERMISSIONS = frozenset({"audit.read", "webhooks.manage"})

roles = sa.table(
    "roles",
    sa.column("id", sa.Uuid()),
    sa.column("permissions", sa.Text()),
    sa.column("is_leader", sa.Boolean()),
)


def _regrant(*, leaders_only: bool, add: bool) -> None:
    """Add the new permissions to the leader roles, or take them from every role; the list
    stays sorted and space-separated, as the model writes it."""
    bind = op.get_bind()
    query = sa.select(roles.c.id, roles.c.permissions)
    if leaders_only:
        query = query.where(roles.c.is_leader.is_(True))
    for role_id, permissions in bind.execute(query).all():
        granted = set(permissions.split())
        changed = granted | NEW_PERMISSIONS if add else granted - NEW_PERMISSIONS
        if changed != granted:
            bind.execute(
                roles.update()
                .where(roles.c.id == role_id)
                .values(permissions=" ".join(sorted(changed)))
            )


def upgrade() -> None:
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("subject_id", sa.Uuid(), nullable=True),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("object_id", sa.Uuid(), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("event_id"),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entries_occurred_at", ["occurred_at"])
        batch_op.create_index("ix_audit_entries_subject", ["subject_id", "occurred_at", "id"])
        batch_op.create_index("ix_audit_entries_actor", ["actor_id", "occurred_at", "id"])
        batch_op.create_index("ix_audit_entries_team", ["team_id", "occurred_at", "id"])
    _regrant(leaders_only=True, add=True)


def downgrade() -> None:
    _regrant(leaders_only=False, add=False)
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_team")
        batch_op.drop_index("ix_audit_entries_actor")
        batch_op.drop_index("ix_audit_entries_subject")
        batch_op.drop_index("ix_audit_entries_occurred_at")
    op.drop_table("audit_entries")
