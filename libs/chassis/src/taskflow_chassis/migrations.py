"""Alembic wiring: each service keeps its own migrations and its own version table.

A service's ``migrations/env.py`` is two lines calling ``run_alembic_env``; the app
runs ``upgrade_to_head`` at start-up (inside its event loop, over the app's own
async engine), and the ``alembic`` CLI works too with the service's alembic.ini.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from taskflow_chassis.db import Database, async_url


def alembic_config(migrations_dir: Path, url: str, version_table: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", async_url(url).replace("%", "%%"))
    config.attributes["version_table"] = version_table
    return config


def _run(connection: Connection, target_metadata: MetaData, version_table: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=version_table,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_alembic_env(target_metadata: MetaData, version_table: str) -> None:
    """Body of a service's ``env.py``."""
    config = context.config
    version_table = config.attributes.get("version_table", version_table)
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection, target_metadata, version_table)
        return
    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=target_metadata,
            version_table=version_table,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return

    async def online() -> None:
        url = config.get_main_option("sqlalchemy.url") or ""
        engine = create_async_engine(async_url(url), poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(_run, target_metadata, version_table)
        await engine.dispose()

    asyncio.run(online())


def _step(
    database: Database, migrations_dir: Path, version_table: str, revision: str, down: bool
) -> Callable[[Connection], None]:
    config = alembic_config(migrations_dir, database.url, version_table)

    def run(connection: Connection, cfg: Any = config) -> None:
        cfg.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(cfg, revision)

    return run


async def migrate_to(
    database: Database,
    migrations_dir: Path,
    version_table: str,
    revision: str,
    *,
    down: bool = False,
) -> None:
    """Upgrade (or downgrade) to one revision: the migration tests walk a service's chain."""
    async with database.engine.begin() as conn:
        await conn.run_sync(_step(database, migrations_dir, version_table, revision, down))


async def upgrade_to_head(database: Database, migrations_dir: Path, version_table: str) -> None:
    upgrade = _step(database, migrations_dir, version_table, "head", False)

    async with database.engine.begin() as conn:
        # Several workers or replicas start at once: one migrates, the others wait, then
        # find nothing left to do.
        if database.dialect == "postgresql":
            key = zlib.crc32(version_table.encode())
            await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        elif database.dialect == "mysql":
            # MySQL commits DDL implicitly, so the lock belongs to the connection.
            await conn.execute(text("SELECT GET_LOCK(:name, 600)"), {"name": version_table})
        try:
            await conn.run_sync(upgrade)
        finally:
            if database.dialect == "mysql":
                await conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": version_table})
