"""Base of the teams tables: their own metadata, apart from other services' in one process."""

from __future__ import annotations

from sqlalchemy.orm import registry
from sqlmodel import SQLModel


class TeamsTable(SQLModel, registry=registry()):
    pass


def import_all_tables() -> None:
    """Load every table module, so the metadata is complete (Alembic)."""
    from taskflow_teams.directory import models as _directory  # noqa: F401
    from taskflow_teams.invitations import models as _invitations  # noqa: F401
    from taskflow_teams.teams import models as _teams  # noqa: F401
