"""Every table of the teams service: importing this module completes the metadata
(Alembic's autogenerate and the migration environment read it)."""

from __future__ import annotations

from taskflow_teams.audit import models as audit
from taskflow_teams.replica import models as replica
from taskflow_teams.tables import TeamsTable
from taskflow_teams.teams import models as teams

METADATA = TeamsTable.metadata

__all__ = ["METADATA", "audit", "replica", "teams"]
