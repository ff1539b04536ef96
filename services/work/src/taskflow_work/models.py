"""Every table of the work service: importing this module completes WorkTable.metadata
(Alembic, and the app)."""

from __future__ import annotations

from taskflow_work.activity import models as activity
from taskflow_work.comments import models as comments
from taskflow_work.projects import models as projects
from taskflow_work.replica import models as replica
from taskflow_work.tables import WorkTable
from taskflow_work.tasks import models as tasks

__all__ = ["WorkTable", "activity", "comments", "projects", "replica", "tasks"]
