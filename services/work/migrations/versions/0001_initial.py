"""Work tables: replicas, projects, tasks, assignees, activity, comments; outbox and inbox.

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
        "member_replicas",
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role_id", sa.Uuid(), nullable=False),
        sa.Column("role_name", sa.String(length=50), nullable=False),
        sa.Column("permissions", sa.Text(), nullable=False),
        sa.Column("from_event", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "user_id"),
    )
    with op.batch_alter_table("member_replicas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_replicas_role_id"), ["role_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_member_replicas_user_id"), ["user_id"], unique=False)

    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index(
            "ix_projects_team_created", ["team_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "team_replicas",
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("team_id"),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("priority_rank", sa.Integer(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=True),
        sa.Column("estimate_hours", sa.Float(), nullable=True),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tasks_project_created", ["project_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_tasks_team_created", ["team_id", "created_at", "id"], unique=False
        )
        batch_op.create_index("ix_tasks_team_due", ["team_id", "due_at", "id"], unique=False)
        batch_op.create_index(
            "ix_tasks_team_priority", ["team_id", "priority_rank", "id"], unique=False
        )
        batch_op.create_index("ix_tasks_team_status", ["team_id", "status"], unique=False)

    op.create_table(
        "comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("edited_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_comments_task_created", ["task_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "task_activity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("task_activity", schema=None) as batch_op:
        batch_op.create_index(
            "ix_task_activity_task_at", ["task_id", "created_at", "id"], unique=False
        )

    op.create_table(
        "task_assignees",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("assigned_by", sa.Uuid(), nullable=False),
        sa.Column("assigned_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["tasks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("task_id", "user_id"),
    )
    with op.batch_alter_table("task_assignees", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_assignees_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("task_assignees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_assignees_user_id"))

    op.drop_table("task_assignees")
    with op.batch_alter_table("task_activity", schema=None) as batch_op:
        batch_op.drop_index("ix_task_activity_task_at")

    op.drop_table("task_activity")
    with op.batch_alter_table("comments", schema=None) as batch_op:
        batch_op.drop_index("ix_comments_task_created")

    op.drop_table("comments")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_team_status")
        batch_op.drop_index("ix_tasks_team_priority")
        batch_op.drop_index("ix_tasks_team_due")
        batch_op.drop_index("ix_tasks_team_created")
        batch_op.drop_index("ix_tasks_project_created")

    op.drop_table("tasks")
    op.drop_table("team_replicas")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index("ix_projects_team_created")

    op.drop_table("projects")
    with op.batch_alter_table("member_replicas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_replicas_user_id"))
        batch_op.drop_index(batch_op.f("ix_member_replicas_role_id"))

    op.drop_table("member_replicas")
    drop_messaging_tables(op)
