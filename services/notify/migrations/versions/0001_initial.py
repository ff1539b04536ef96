"""Notify tables: replicas, notifications, email log, preferences, reminders; outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from taskflow_chassis.messaging import create_messaging_tables, drop_messaging_tables
from taskflow_chassis.types import UtcDateTime

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    create_messaging_tables(op)
    op.create_table(
        "email_messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("queued_at", UtcDateTime(), nullable=True),
        sa.Column("sending_at", UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    with op.batch_alter_table("email_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_email_messages_notification_id"), ["notification_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_email_messages_status"), ["status"], unique=False)

    op.create_table(
        "invitation_replicas",
        sa.Column("invitation_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("team_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("invited_by", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("invitation_id"),
    )
    op.create_table(
        "member_replicas",
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )
    with op.batch_alter_table("member_replicas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_replicas_user_id"), ["user_id"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=2000), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("read_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_user_created", ["user_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("email_on_assignment", sa.Boolean(), nullable=False),
        sa.Column("email_on_comment", sa.Boolean(), nullable=False),
        sa.Column("email_reminders", sa.Boolean(), nullable=False),
        sa.Column("reminder_lead_hours", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "project_replicas",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("project_id"),
    )
    with op.batch_alter_table("project_replicas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_project_replicas_team_id"), ["team_id"], unique=False)

    op.create_table(
        "reminders_sent",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "user_id", "due_at", name="uq_reminder_task_user_due"),
    )
    with op.batch_alter_table("reminders_sent", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminders_sent_task_id"), ["task_id"], unique=False)

    op.create_table(
        "task_assignee_replicas",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", "user_id"),
    )
    with op.batch_alter_table("task_assignee_replicas", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_task_assignee_replicas_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "task_replicas",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("task_id"),
    )
    with op.batch_alter_table("task_replicas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_replicas_due_at"), ["due_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_task_replicas_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_task_replicas_team_id"), ["team_id"], unique=False)

    op.create_table(
        "team_replicas",
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("team_id"),
    )
    op.create_table(
        "user_replicas",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("user_id"),
    )
    with op.batch_alter_table("user_replicas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_replicas_email"), ["email"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("user_replicas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_replicas_email"))

    op.drop_table("user_replicas")
    op.drop_table("team_replicas")
    with op.batch_alter_table("task_replicas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_replicas_team_id"))
        batch_op.drop_index(batch_op.f("ix_task_replicas_project_id"))
        batch_op.drop_index(batch_op.f("ix_task_replicas_due_at"))

    op.drop_table("task_replicas")
    with op.batch_alter_table("task_assignee_replicas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_assignee_replicas_user_id"))

    op.drop_table("task_assignee_replicas")
    with op.batch_alter_table("reminders_sent", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminders_sent_task_id"))

    op.drop_table("reminders_sent")
    with op.batch_alter_table("project_replicas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_project_replicas_team_id"))

    op.drop_table("project_replicas")
    op.drop_table("preferences")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_created")

    op.drop_table("notifications")
    with op.batch_alter_table("member_replicas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_replicas_user_id"))

    op.drop_table("member_replicas")
    op.drop_table("invitation_replicas")
    with op.batch_alter_table("email_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_messages_status"))
        batch_op.drop_index(batch_op.f("ix_email_messages_notification_id"))

    op.drop_table("email_messages")
    drop_messaging_tables(op)
