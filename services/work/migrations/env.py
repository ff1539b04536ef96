"""Alembic environment of the work service (version table ``alembic_version_work``)."""

from alembic import context
from taskflow_chassis.migrations import run_alembic_env
from taskflow_work.config import WorkSettings
from taskflow_work.models import WorkTable

if not context.config.get_main_option("sqlalchemy.url"):
    context.config.set_main_option(
        "sqlalchemy.url", WorkSettings().resolved_database_url().replace("%", "%%")
    )

run_alembic_env(WorkTable.metadata, version_table="alembic_version_work")
