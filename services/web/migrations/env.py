"""Alembic environment of the web service (version table ``alembic_version_web``)."""

from alembic import context
from taskflow_chassis.migrations import run_alembic_env
from taskflow_web.config import WebSettings
from taskflow_web.models import WebTable

if not context.config.get_main_option("sqlalchemy.url"):
    context.config.set_main_option(
        "sqlalchemy.url", WebSettings().resolved_database_url().replace("%", "%%")
    )

run_alembic_env(WebTable.metadata, version_table="alembic_version_web")
