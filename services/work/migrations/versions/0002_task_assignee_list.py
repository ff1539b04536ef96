"""Tasks carry their assignee list: a task or a page of tasks is read without a join.

``task_assignees`` stays the source for "tasks assigned to X" and for integrity;
``tasks.assignee_ids`` is the same list in assignment order, as JSON, kept in step
by every write that changes it.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

"""

import json
from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5_000


def upgrade() -> None:
    # Added empty, filled, then made required: MySQL allows no literal default on TEXT.
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assignee_ids", sa.Text(), nullable=True))
    assignees = sa.table(
        "task_assignees",
        sa.column("task_id", sa.Uuid()),
        sa.column("user_id", sa.Uuid()),
        sa.column("assigned_at", sa.DateTime()),
    )
    tasks = sa.table("tasks", sa.column("id", sa.Uuid()), sa.column("assignee_ids", sa.Text()))
    bind = op.get_bind()
    bind.execute(sa.update(tasks).values(assignee_ids="[]"))
    update = (
        sa.update(tasks)
        .where(tasks.c.id == sa.bindparam("task_id"))
        .values(assignee_ids=sa.bindparam("ids"))
    )
    # BATCH tasks at a time, in task id order: memory stays bounded however large the table.
    after = None
    while True:
        next_ids = sa.select(assignees.c.task_id).distinct().order_by(assignees.c.task_id)
        if after is not None:
            next_ids = next_ids.where(assignees.c.task_id > after)
        task_ids = list(bind.execute(next_ids.limit(BATCH)).scalars())
        if not task_ids:
            break
        lists: dict[object, list[str]] = defaultdict(list)
        rows = bind.execute(
            sa.select(assignees.c.task_id, assignees.c.user_id)
            .where(assignees.c.task_id.in_(task_ids))
            .order_by(assignees.c.task_id, assignees.c.assigned_at)
        )
        for task_id, user_id in rows:
            lists[task_id].append(str(user_id))
        bind.execute(update, [{"task_id": t, "ids": json.dumps(ids)} for t, ids in lists.items()])
        after = task_ids[-1]
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.alter_column("assignee_ids", existing_type=sa.Text(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("assignee_ids")
