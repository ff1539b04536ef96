"""Alembic wiring: a service's migrations run at start-up into its own version table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from taskflow_chassis.db import Database
from taskflow_chassis.migrations import upgrade_to_head
from taskflow_chassis.testing import fresh_postgres_database

DEMO = Path(__file__).parent / "demo_migrations"


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'm.db'}")
        yield db
    else:
        async with fresh_postgres_database() as url:
            db = Database(url)
            yield db
    await db.dispose()


async def test_upgrade_creates_tables_and_own_version_table(database: Database) -> None:
    await upgrade_to_head(database, DEMO, "alembic_version_demo")
    await upgrade_to_head(database, DEMO, "alembic_version_demo")  # idempotent
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        version = (
            await conn.execute(text("SELECT version_num FROM alembic_version_demo"))
        ).scalar_one()
    assert {"demo", "outbox_messages", "inbox_messages", "alembic_version_demo"} <= tables
    assert "alembic_version" not in tables
    assert version == "0001"


async def test_workers_starting_together_migrate_once() -> None:
    """Several API workers (or replicas) start at once: one migrates, the others wait."""
    import asyncio

    async with fresh_postgres_database() as url:
        workers = [Database(url) for _ in range(4)]
        try:
            await asyncio.gather(
                *(upgrade_to_head(db, DEMO, "alembic_version_demo") for db in workers)
            )
            async with workers[0].engine.connect() as conn:
                versions = (
                    await conn.execute(text("SELECT version_num FROM alembic_version_demo"))
                ).all()
        finally:
            for db in workers:
                await db.dispose()
    assert [tuple(v) for v in versions] == [("0001",)]
