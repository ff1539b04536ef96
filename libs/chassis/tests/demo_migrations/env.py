from sqlalchemy import MetaData
from taskflow_chassis.migrations import run_alembic_env

run_alembic_env(MetaData(), version_table="alembic_version_demo")
