"""Async database access over SQLModel/SQLAlchemy, chosen by URL.

``sqlite``/``sqlite+aiosqlite`` (embedded), ``postgresql``/``postgresql+asyncpg``
(production) and ``mysql``/``mariadb`` (``+aiomysql``) are supported. Plain URLs
are given their async driver, so the same setting works for Alembic and apps.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Table, any_, bindparam, event
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from taskflow_chassis.config import ServiceSettings

ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
}


def async_url(url: str) -> str:
    """Give a database URL its async driver (``postgresql://`` → ``postgresql+asyncpg://``)."""
    parsed = make_url(url)
    if "+" not in parsed.drivername and parsed.drivername in ASYNC_DRIVERS:
        parsed = parsed.set(drivername=ASYNC_DRIVERS[parsed.drivername])
    if parsed.drivername.startswith("mariadb+"):
        parsed = parsed.set(drivername="mysql+" + parsed.drivername.split("+", 1)[1])
    return parsed.render_as_string(hide_password=False)


def dialect_of(url: str) -> str:
    return make_url(async_url(url)).get_backend_name()


MYSQL_SESSION_SETTINGS = "SET SESSION group_concat_max_len = 16777216"


class Database:
    """One service's engine and session factory.

    Each instance gets its own Session class, so commit hooks (the outbox relay's
    wake-up) registered here fire only for this service's sessions, even when
    several services share one process (embedded mode).
    """

    def __init__(self, url: str, *, echo: bool = False, **engine_kwargs: Any) -> None:
        self.url = async_url(url)
        self.dialect = dialect_of(self.url)
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": self.dialect != "sqlite"}
        connect_args: dict[str, Any] = {}
        if self.dialect == "sqlite":
            connect_args["timeout"] = 30
        if self.dialect == "mysql":
            # GROUP_CONCAT stops at 1,024 bytes by default, and cuts silently.
            connect_args["init_command"] = MYSQL_SESSION_SETTINGS
        kwargs["connect_args"] = connect_args | engine_kwargs.pop("connect_args", {})
        kwargs.update(engine_kwargs)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.session_class: type[Session] = type("ServiceSession", (Session,), {})
        self.sessionmaker = async_sessionmaker(
            self.engine,
            expire_on_commit=False,
            sync_session_class=self.session_class,
        )
        # Each statement commits by itself: reads (GET) need no transaction, no BEGIN and
        # ROLLBACK round trips per request, and neither does a lone write.
        self.autocommit_engine: AsyncEngine = self.engine.execution_options(
            isolation_level="AUTOCOMMIT"
        )
        self.read_sessionmaker = async_sessionmaker(
            self.autocommit_engine,
            expire_on_commit=False,
            sync_session_class=self.session_class,
        )
        self._commit_hooks: list[Callable[[Session], None]] = []
        event.listen(self.session_class, "after_commit", self._after_commit)

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> Database:
        url = settings.resolved_database_url()
        pool: dict[str, Any] = {"pool_pre_ping": settings.db_pool_pre_ping}
        if dialect_of(url) != "sqlite":
            pool |= {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow}
        return cls(url, **pool)

    @property
    def supports_skip_locked(self) -> bool:
        return self.dialect in {"postgresql", "mysql"}

    def on_commit(self, hook: Callable[[Session], None]) -> None:
        """Call ``hook(sync_session)`` after every commit of a session of this database."""
        self._commit_hooks.append(hook)

    def _after_commit(self, session: Session) -> None:
        for hook in self._commit_hooks:
            hook(session)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def ping(self, timeout: float = 5.0) -> bool:  # noqa: ASYNC109 - bounds connect and query
        from sqlalchemy import text

        async def select_one() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        try:
            await asyncio.wait_for(select_one(), timeout)
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the relay read while a request writes; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# --- one-statement writes that tolerate a row already there ------------------------------
# A replica or a deduplicated row is written by an event handler that may meet its row
# already there (a redelivery, a second event about the same thing). One statement that
# says what to do on a conflict replaces a read, then an insert or an update.


def _table(model: Any) -> Table:
    table: Table = getattr(model, "__table__", model)
    return table


def insert_or_ignore(
    dialect: str, model: Any, values: Mapping[str, Any] | None, keys: Sequence[str]
) -> Any:
    """``INSERT`` that leaves an existing row with the same ``keys`` (a unique key) alone.
    ``values`` None: the rows are given to ``execute`` (many rows, one statement)."""
    template = _insert_or_ignore(dialect, _table(model), tuple(keys))
    return template if values is None else template.values(**values)


def upsert(
    dialect: str,
    model: Any,
    values: Mapping[str, Any] | None,
    keys: Sequence[str],
    update: Sequence[str],
) -> Any:
    """``INSERT`` that, where a row with the same ``keys`` exists, sets its ``update`` columns
    to the values given instead. ``values`` None: the rows are given to ``execute``."""
    template = _upsert(dialect, _table(model), tuple(keys), tuple(update))
    return template if values is None else template.values(**values)


# Built once per shape (taskflow_chassis.bound's reason): an upsert's ``excluded`` alias
# alone costs more to build than the database takes to run the statement.
@functools.lru_cache(maxsize=256)
def _insert_or_ignore(dialect: str, table: Table, keys: tuple[str, ...]) -> Any:
    if dialect == "mysql":
        # Not INSERT IGNORE: that would also swallow errors other than the duplicate key.
        first = table.c[keys[0]]
        return mysql.insert(table).on_duplicate_key_update({first.name: first})
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=list(keys))


@functools.lru_cache(maxsize=256)
def _upsert(dialect: str, table: Table, keys: tuple[str, ...], update: tuple[str, ...]) -> Any:
    if dialect == "mysql":
        mysql_insert = mysql.insert(table)
        return mysql_insert.on_duplicate_key_update(
            {name: mysql_insert.inserted[name] for name in update}
        )
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: statement.excluded[name] for name in update}
    )


def one_of(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """``column IN (the list bound as name)``, on PostgreSQL as ``column = ANY(an array)``: one
    statement text whatever the list's length, where each length of an IN list is a text
    of its own, prepared anew on every pooled connection that meets it."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


def dialect_of_session(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def commits_each_statement(session: AsyncSession) -> bool:
    """The session runs without a transaction (``Database.read_sessionmaker``, and a write
    route's under ``deps.without_transaction``): each statement commits alone."""
    options = session.get_bind().get_execution_options()
    return bool(options.get("isolation_level") == "AUTOCOMMIT")


def rows_matched(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an UPDATE or DELETE matched (``execute`` types its result as a plain
    ``Result``, which has no ``rowcount``; a DML statement's is a ``CursorResult``)."""
    assert isinstance(result, CursorResult)
    return result.rowcount


async def connect_postgres(url: str, *, seconds: float = 60) -> Any:
    """An asyncpg connection (an administrator's: creating and dropping databases),
    waited for while the server is full: several stacks (tests, the bench, ``make up``)
    may share one server's max_connections, and a busy moment must not fail them."""
    import asyncpg

    deadline = time.monotonic() + seconds
    while True:
        try:
            return await asyncpg.connect(url)
        except asyncpg.TooManyConnectionsError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
