"""Counting a request's round trips to its database (a test helper).

Counted: every statement SQLAlchemy sends (``before_cursor_execute``, an executemany once;
marked when its compiled form cannot be cached), and each BEGIN, COMMIT and ROLLBACK of a
transaction on a connection (on asyncpg and aiomysql each is a message and its answer;
a connection in autocommit sends none).
Only what runs in the counting context counts: the outbox relay, woken by a commit, works
in its own task and is left out.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.engine.interfaces import CacheStats

_counting: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "round_trips", default=None
)


def _note(what: str) -> None:
    trips = _counting.get()
    if trips is not None:
        trips.append(what)


# Appended to a statement SQLAlchemy could not take from its compiled cache by shape (it
# compiles one like it anew each time: CPU on every request).
UNCACHEABLE = " -- uncacheable"


def _statement(
    _conn: Any, _cursor: Any, statement: str, _parameters: Any, context: Any, _many: bool
) -> None:
    uncacheable = getattr(context, "cache_hit", None) is CacheStats.NO_CACHE_KEY
    _note(" ".join(statement.split()) + (UNCACHEABLE if uncacheable else ""))


def _sent(conn: Any) -> bool:
    """SQLAlchemy tells of a transaction's begin and end on a connection in autocommit too,
    where the driver sends neither (each statement commits alone)."""
    level: str | None = conn.get_execution_options().get("isolation_level")
    return level != "AUTOCOMMIT"


def _begin(conn: Any) -> None:
    if _sent(conn):
        _note("BEGIN")


def _commit(conn: Any) -> None:
    if _sent(conn):
        _note("COMMIT")


def _rollback(conn: Any) -> None:
    if _sent(conn):
        _note("ROLLBACK")


@contextmanager
def round_trips(app: FastAPI) -> Iterator[list[str]]:
    """The round trips of what runs inside the block, one line each (the statement itself)."""
    engine = app.state.database.engine.sync_engine
    hooks: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", _statement),
        ("begin", _begin),
        ("commit", _commit),
        ("rollback", _rollback),
    ]
    for name, hook in hooks:
        event.listen(engine, name, hook)
    trips: list[str] = []
    token = _counting.set(trips)
    try:
        yield trips
    finally:
        _counting.reset(token)
        for name, hook in hooks:
            event.remove(engine, name, hook)
