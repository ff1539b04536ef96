"""Alembic environment of the notify service (version table ``alembic_version_notify``)."""

from alembic import context
from taskflow_chassis.migrations import run_alembic_env
from taskflow_notify.config import NotifySettings
from taskflow_notify.models import NotifyTable

if not context.config.get_main_option("sqlalchemy.url"):
    context.config.set_main_option(
        "sqlalchemy.url", NotifySettings().resolved_database_url().replace("%", "%%")
    )

run_alembic_env(NotifyTable.metadata, version_table="alembic_version_notify")
