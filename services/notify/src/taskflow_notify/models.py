"""Every notify table, so ``NotifyTable.metadata`` is complete (Alembic, create_all)."""

from __future__ import annotations

from taskflow_notify.email import models as email
from taskflow_notify.live import models as live
from taskflow_notify.notifications import models as notifications
from taskflow_notify.replica import models as replica
from taskflow_notify.tables import NotifyTable
from taskflow_notify.webhooks import models as webhooks

__all__ = ["NotifyTable", "email", "live", "notifications", "replica", "webhooks"]
