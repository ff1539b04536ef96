"""Base of the notify tables: their own metadata, apart from other services' in one process."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel


class NotifyTable(SQLModel, registry=registry()):
    pass


def import_all_tables() -> None:
    """Load every table module, so the metadata is complete (Alembic)."""
    from taskflow_notify.notifications import models as _notifications  # noqa: F401
    from taskflow_notify.replica import models as _replica  # noqa: F401
