"""Alembic environment of the auth service (version table ``alembic_version_auth``)."""

from alembic import context
from taskflow_auth.config import AuthSettings
from taskflow_auth.models import metadata
from taskflow_chassis.migrations import run_alembic_env

if not context.config.get_main_option("sqlalchemy.url"):
    context.config.set_main_option(
        "sqlalchemy.url", AuthSettings().resolved_database_url().replace("%", "%%")
    )

run_alembic_env(metadata, version_table="alembic_version_auth")
