"""Database by URL on SQLite, PostgreSQL and MariaDB; UTC times; per-service migrations."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    event,
    func,
    insert,
    select,
    text,
)
from taskflow_chassis.db import (
    Database,
    async_url,
    dialect_of_session,
    insert_or_ignore,
    one_of,
    upsert,
)
from taskflow_chassis.testing import fresh_mysql_database, fresh_postgres_database
from taskflow_chassis.types import UtcDateTime


def test_async_url_picks_the_driver() -> None:
    assert async_url("postgresql://u@h/db").startswith("postgresql+asyncpg://")
    assert async_url("postgres://u@h/db").startswith("postgresql+asyncpg://")
    assert async_url("mysql://root@h/db").startswith("mysql+aiomysql://")
    assert async_url("mariadb://root@h/db").startswith("mysql+aiomysql://")
    assert async_url("sqlite:///x.db") == "sqlite+aiosqlite:///x.db"
    assert async_url("postgresql+asyncpg://u:p%40ss@h/db") == "postgresql+asyncpg://u:p%40ss@h/db"


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 't.db'}")
        yield db
        await db.dispose()
        return
    fresh = fresh_postgres_database if request.param == "postgres" else fresh_mysql_database
    async with fresh() as url:
        db = Database(url)
        yield db
        await db.dispose()


async def test_times_come_back_aware_utc(database: Database) -> None:
    metadata = MetaData()
    table = Table(
        "times", metadata, Column("id", Integer, primary_key=True), Column("at", UtcDateTime())
    )
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        local = datetime(2026, 5, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
        await conn.execute(insert(table), [{"id": 1, "at": local}])
        stored = (await conn.execute(select(table.c.at))).scalar_one()
        assert stored == datetime(2026, 5, 1, 10, 30, tzinfo=UTC)
        assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
        later = (
            await conn.execute(select(table.c.id).where(table.c.at < local + timedelta(seconds=1)))
        ).all()
        assert later == [(1,)]
    assert await database.ping()


async def test_insert_or_ignore_and_upsert_meet_an_existing_row(database: Database) -> None:
    metadata = MetaData()
    table = Table(
        "people",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("email", String(100), unique=True, nullable=False),
        Column("name", String(100), nullable=False),
    )
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    async with database.session() as session:
        dialect = dialect_of_session(session)
        assert dialect == database.dialect
        ada = {"id": 1, "email": "ada@example.com", "name": "Ada"}
        await session.execute(insert_or_ignore(dialect, table, ada, ["id"]))
        # Same id, and then same unique email under another id: both left as they were.
        await session.execute(insert_or_ignore(dialect, table, {**ada, "name": "Eve"}, ["id"]))
        await session.execute(
            insert_or_ignore(dialect, table, {**ada, "id": 2, "name": "Eve"}, ["email"])
        )
        await session.execute(upsert(dialect, table, {**ada, "name": "Ada L."}, ["id"], ["name"]))
        bob = {"id": 3, "email": "bob@example.com", "name": "Bob"}
        await session.execute(upsert(dialect, table, bob, ["id"], ["name"]))
        await session.commit()
        rows = (await session.execute(select(table).order_by(table.c.id))).all()
    assert [tuple(row) for row in rows] == [
        (1, "ada@example.com", "Ada L."),
        (3, "bob@example.com", "Bob"),
    ]


async def test_one_of_matches_a_list_of_any_length_in_one_statement_text(
    database: Database,
) -> None:
    metadata = MetaData()
    table = Table(
        "listed",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("key", String(36), nullable=False),
        Column("ref", Uuid, nullable=False),
    )
    refs = [uuid.uuid4() for _ in range(5)]
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(
            insert(table), [{"id": i + 1, "key": f"k{i}", "ref": refs[i]} for i in range(5)]
        )
    by_key = select(table.c.id).where(one_of(table.c.key, "keys", database.dialect))
    by_ref = select(table.c.id).where(one_of(table.c.ref, "refs", database.dialect))
    sent: list[str] = []

    def record(_conn, _cursor, statement, _params, _context, _many) -> None:
        sent.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with database.engine.connect() as conn:
            for wanted in ([], [3], [0, 2, 4], [1, 2, 3, 4]):
                keys = [f"k{i}" for i in wanted] + ["absent"]
                found = (await conn.execute(by_key, {"keys": keys})).scalars().all()
                assert sorted(found) == [i + 1 for i in wanted]
                refs_wanted = {"refs": [refs[i] for i in wanted]}
                found = (await conn.execute(by_ref, refs_wanted)).scalars().all()
                assert sorted(found) == [i + 1 for i in wanted]
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", record)
    if database.dialect == "postgresql":
        # One text for the keys and one for the refs, whatever the lists' lengths.
        assert len(set(sent)) == 2, sent


async def test_commit_hooks_fire_only_for_their_database(tmp_path: Path) -> None:
    first = Database(f"sqlite:///{tmp_path / 'a.db'}")
    second = Database(f"sqlite:///{tmp_path / 'b.db'}")
    fired: list[str] = []
    first.on_commit(lambda session: fired.append("first"))
    second.on_commit(lambda session: fired.append("second"))
    async with first.session() as session:
        await session.execute(text("SELECT 1"))
        await session.commit()
    assert fired == ["first"]
    await first.dispose()
    await second.dispose()


async def test_unreachable_database_is_not_ready() -> None:
    db = Database("postgresql://nobody@127.0.0.1:1/none")
    assert await db.ping() is False
    await db.dispose()


async def test_strings_aggregated_in_a_statement_come_back_whole(database: Database) -> None:
    """GROUP_CONCAT cuts silently at 1,024 bytes on MySQL and 1 MiB on MariaDB unless told
    otherwise; work reads the names of a task's assignees that way."""
    metadata = MetaData()
    table = Table("aggregated", metadata, Column("id", Integer, primary_key=True),
                  Column("name", String(1000)))  # fmt: skip
    names = [f"{n:04d}" * 250 for n in range(1, 1201)]  # 1.2 MB in all
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(
            insert(table), [{"id": n, "name": name} for n, name in enumerate(names, 1)]
        )
    async with database.sessionmaker() as session:
        joined = await session.scalar(select(func.aggregate_strings(table.c.name, ",")))
    assert joined is not None
    assert sorted(joined.split(",")) == names


async def test_a_services_own_connect_arguments_keep_the_session_settings() -> None:
    async with fresh_mysql_database() as url:
        database = Database(url, connect_args={"connect_timeout": 10})
        async with database.sessionmaker() as session:
            limit = await session.scalar(text("SELECT @@SESSION.group_concat_max_len"))
        await database.dispose()
    assert limit == 16 * 1024 * 1024
