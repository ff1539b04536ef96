"""The databases the service tests start on: at the newest migration, with no rows, and
none of one test's rows, numbers or connections left for the next."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from taskflow_chassis import testing
from taskflow_chassis.db import Database, connect_postgres
from taskflow_chassis.testing import (
    drop_pooled_databases,
    migrated_postgres,
    migrated_sqlite,
    require_postgres,
)

DEMO = Path(__file__).parent / "demo_migrations"


@asynccontextmanager
async def _transaction(url: str) -> AsyncIterator[tuple[str, Any]]:
    """The database's dialect and a connection in a transaction, committed at the end."""
    database = Database(url)
    try:
        async with database.engine.begin() as conn:
            yield database.dialect, conn
    finally:
        await database.dispose()


async def _tables_and_version(url: str) -> tuple[set[str], str]:
    async with _transaction(url) as (dialect, conn):
        if dialect == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'table'"
        else:
            query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        tables = set((await conn.execute(text(query))).scalars())
        version = "SELECT version_num FROM alembic_version_demo"
        return tables, (await conn.execute(text(version))).scalar_one()


async def _insert_demo_row(url: str) -> int:
    """A row whose id the database numbers: the next test must meet 1 again."""
    async with _transaction(url) as (dialect, conn):
        if dialect == "sqlite":
            await conn.execute(text("INSERT INTO demo DEFAULT VALUES"))
            return int((await conn.execute(text("SELECT max(id) FROM demo"))).scalar_one())
        inserted = await conn.execute(text("INSERT INTO demo DEFAULT VALUES RETURNING id"))
        return int(inserted.scalar_one())


async def _count_demo_rows(url: str) -> int:
    async with _transaction(url) as (_, conn):
        return int((await conn.execute(text("SELECT count(*) FROM demo"))).scalar_one())


async def test_sqlite_files_start_at_head_each_a_copy_of_its_own(tmp_path: Path) -> None:
    first = await migrated_sqlite(tmp_path / "first.db", DEMO, "demo")
    tables, version = await _tables_and_version(first)
    assert {"demo", "outbox_messages", "alembic_version_demo"} <= tables
    assert version == "0001"
    await _insert_demo_row(first)
    second = await migrated_sqlite(tmp_path / "second.db", DEMO, "demo")
    assert await _count_demo_rows(second) == 0
    assert await _count_demo_rows(first) == 1


async def test_a_postgres_database_comes_back_empty_numbered_from_1_and_unvisited() -> None:
    require_postgres()
    async with migrated_postgres(DEMO, "demo") as url:
        tables, version = await _tables_and_version(url)
        assert {"demo", "outbox_messages", "alembic_version_demo"} <= tables
        assert version == "0001"
        assert await _insert_demo_row(url) == 1
        assert await _insert_demo_row(url) == 2
        # A connection the test left open (an app not shut down) does not keep it.
        left_open = await connect_postgres(url.replace("postgresql+asyncpg", "postgresql"))
    async with migrated_postgres(DEMO, "demo") as again:
        assert again == url  # the same database, kept for this process
        assert await _count_demo_rows(again) == 0
        assert await _insert_demo_row(again) == 1
        assert version == (await _tables_and_version(again))[1]
    assert left_open.is_closed() or not await _still_answers(left_open)
    await drop_pooled_databases()
    assert await _exists(url) is False


async def _still_answers(conn: object) -> bool:
    try:
        await conn.fetchval("SELECT 1")  # type: ignore[attr-defined]
        return True
    except Exception:
        return False


async def _exists(url: str) -> bool:
    name = url.rsplit("/", 1)[1]
    conn = await connect_postgres(require_postgres())
    try:
        return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await conn.close()


async def test_a_database_the_test_took_away_is_dropped_not_kept() -> None:
    require_postgres()
    async with migrated_postgres(DEMO, "demo") as url:
        name = url.rsplit("/", 1)[1]
        admin = await connect_postgres(require_postgres())
        try:
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        finally:
            await admin.close()
    assert await _exists(url) is False
    async with migrated_postgres(DEMO, "demo") as fresh:
        assert fresh != url
        assert await _count_demo_rows(fresh) == 0
    await drop_pooled_databases()


@pytest.mark.parametrize(
    "change",
    [
        "ALTER DATABASE {name} SET timezone = 'Asia/Tokyo'",
        "CREATE SEQUENCE loose_numbers",
        "CREATE SCHEMA elsewhere",
        "CREATE FUNCTION answer() RETURNS int LANGUAGE sql AS 'SELECT 42'",
    ],
)
async def test_a_database_changed_beyond_its_rows_is_dropped_not_kept(change: str) -> None:
    """What a TRUNCATE would leave for the next test: a setting, a sequence no column owns,
    another schema's rows, a function."""
    require_postgres()
    async with migrated_postgres(DEMO, "demo") as url:
        name = url.rsplit("/", 1)[1]
        conn = await connect_postgres(url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await conn.execute(change.format(name=f'"{name}"'))
        finally:
            await conn.close()
    assert await _exists(url) is False
    async with migrated_postgres(DEMO, "demo") as fresh:
        assert fresh != url


async def _create_databases(*names: str) -> None:
    conn = await connect_postgres(require_postgres())
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def test_the_databases_of_a_process_gone_are_dropped_by_the_next_pool() -> None:
    require_postgres()
    gone = 2**22 + 7  # above Linux's default pid_max: no process has it
    assert not testing._process_alive(gone)
    host = testing._host_tag()
    dead = f"taskflow_pool_demo_{host}_{gone}_deadbeef"
    mine = f"taskflow_pool_demo_{host}_{os.getpid()}_cafebabe"
    # Another host's process: its pid means nothing here (a server shared by containers).
    elsewhere = f"taskflow_pool_demo_0ther0_{gone}_feedface"
    await _create_databases(dead, mine, elsewhere)
    saved = dict(testing._POSTGRES_POOLS)
    testing._POSTGRES_POOLS.clear()  # as in a new process: its first pool looks
    try:
        async with migrated_postgres(DEMO, "demo"):
            pass
        assert await _exists(f"x/{dead}") is False
        assert await _exists(f"x/{mine}") is True  # this process is alive: left alone
        assert await _exists(f"x/{elsewhere}") is True
    finally:
        await drop_pooled_databases()
        testing._POSTGRES_POOLS.update(saved)
        for name in (mine, elsewhere):
            await testing._drop_database(require_postgres(), name)


@pytest.fixture(autouse=True)
async def _no_pool_left_behind() -> AsyncIterator[None]:
    yield
    await drop_pooled_databases()
