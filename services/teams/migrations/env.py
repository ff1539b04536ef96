"""Alembic environment of the teams service (version table ``alembic_version_teams``)."""

from alembic import context
from taskflow_chassis.migrations import run_alembic_env
from taskflow_teams.config import TeamsSettings
from taskflow_teams.models import METADATA

if not context.config.get_main_option("sqlalchemy.url"):
    context.config.set_main_option(
        "sqlalchemy.url", TeamsSettings().resolved_database_url().replace("%", "%%")
    )

run_alembic_env(METADATA, version_table="alembic_version_teams")
