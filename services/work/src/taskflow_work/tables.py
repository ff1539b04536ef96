"""Base of the work tables: their own metadata, apart from other services' in one process."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel


class WorkTable(SQLModel, registry=registry()):
    pass


def import_all_tables() -> None:
    """Load every table module, so the metadata is complete (Alembic)."""
    from taskflow_work.comments import models as _comments  # noqa: F401
    from taskflow_work.projects import models as _projects  # noqa: F401
    from taskflow_work.replica import models as _replica  # noqa: F401
    from taskflow_work.tasks import models as _tasks  # noqa: F401
