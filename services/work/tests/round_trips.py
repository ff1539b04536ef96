"""Counting a request's round trips to its database (a test helper).

Counted: every statement SQLAlchemy sends (``before_cursor_execute``, an executemany
once), and each BEGIN, COMMIT and ROLLBACK of a transaction on a connection (on asyncpg
and aiomysql each is a message and its answer). Only what runs in the counting context
counts: the outbox relay, woken by a commit, works in its own task and is left out.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import event

_counting: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "round_trips", default=None
)


def _note(what: str) -> None:
    trips = _counting.get()
    if trips is not None:
        trips.append(what)


def _statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    _note(" ".join(statement.split()))


def _begin(_conn: Any) -> None:
    _note("BEGIN")


def _commit(_conn: Any) -> None:
    _note("COMMIT")


def _rollback(_conn: Any) -> None:
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
