"""Transient or permanent: how a consumer tells a passing outage from a poison message.

A transient failure (the database or broker unreachable, a connection reset, a
timeout, a deadlock or serialization failure, a read-through that could not reach
its service) will pass by itself: the event is retried with back-off for as long
as it lasts and never parked for it. A permanent failure (a malformed payload, an
unknown type or version, a validation error) will fail the same way every time:
the event is parked at once, with its error, for an operator to look at. Anything
else is a bug until shown otherwise: retried a few times, then parked.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from enum import StrEnum

from pydantic import ValidationError

__all__ = ["Failure", "PermanentError", "TransientError", "classify"]


class Failure(StrEnum):
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    UNKNOWN = "unknown"


class TransientError(Exception):
    """Raised by a handler for a failure that will pass (e.g. a dependency unreachable)."""


class PermanentError(Exception):
    """Raised by a handler for a message that can never be handled as it is."""


_NETWORK_ERRNOS = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EPIPE,
    errno.ETIMEDOUT,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ENETDOWN,
}
# Deadlock, serialization and lock failures (PostgreSQL's SQLSTATEs), and whole classes:
# 08 connection exception, 53 insufficient resources, 57 operator intervention (shutdown).
# 25006: a read-only transaction (a standby during a fail-over answers reads, not writes).
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03", "25006"}
_RETRYABLE_SQLSTATE_CLASSES = {"08", "53", "57"}
# MySQL/MariaDB: lock wait timeout, deadlock, can't connect, gone away, lost, too many,
# shutting down, read-only (--read-only server, read-only transaction).
_ASYNCPG_CONNECTION_ERRORS = {
    "ConnectionDoesNotExistError",
    "InterfaceError",
    "CannotConnectNowError",
    "TooManyConnectionsError",
}
_RETRYABLE_MYSQL_CODES = {1205, 1213, 2002, 2003, 2006, 2013, 2055, 1040, 1053, 1290, 1792}


def classify(exc: BaseException) -> Failure:
    """Which kind of failure ``exc`` is (its causes are looked at too)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = _classify_one(current)
        if kind is not Failure.UNKNOWN:
            return kind
        current = current.__cause__ or current.__context__
    return Failure.UNKNOWN


def _classify_one(exc: BaseException) -> Failure:
    for classifier in (
        _classify_declared,
        _classify_network,
        _classify_validation,
        _classify_database,
        _classify_http,
        _classify_problem,
    ):
        kind = classifier(exc)
        if kind is not Failure.UNKNOWN:
            return kind
    return Failure.UNKNOWN


def _classify_declared(exc: BaseException) -> Failure:
    if isinstance(exc, TransientError):
        return Failure.TRANSIENT
    if isinstance(exc, PermanentError):
        return Failure.PERMANENT
    return Failure.UNKNOWN


def _classify_network(exc: BaseException) -> Failure:
    if isinstance(exc, ConnectionError | TimeoutError | asyncio.TimeoutError | socket.gaierror):
        return Failure.TRANSIENT
    if isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS:
        return Failure.TRANSIENT
    if type(exc).__module__.startswith("redis.") and type(exc).__name__ in {
        "ConnectionError",
        "TimeoutError",
        "BusyLoadingError",
    }:
        return Failure.TRANSIENT
    return Failure.UNKNOWN


def _classify_validation(exc: BaseException) -> Failure:
    return Failure.PERMANENT if isinstance(exc, ValidationError) else Failure.UNKNOWN


def _classify_problem(exc: BaseException) -> Failure:
    from taskflow_chassis.problems import ProblemError

    if isinstance(exc, ProblemError) and exc.status in {502, 503, 504}:
        return Failure.TRANSIENT  # e.g. a read-through that could not reach its service
    return Failure.UNKNOWN


def _classify_database(exc: BaseException) -> Failure:
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return Failure.TRANSIENT
        if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
            return Failure.TRANSIENT
        if _retryable_sqlstate(_sqlstate(exc.orig)):
            return Failure.TRANSIENT
        if _mysql_code(exc.orig) in _RETRYABLE_MYSQL_CODES:
            return Failure.TRANSIENT
        return Failure.UNKNOWN
    if isinstance(exc, sa_exc.TimeoutError | sa_exc.DisconnectionError):
        return Failure.TRANSIENT  # the pool's wait for a connection, or a dead one
    if type(exc).__module__.split(".")[0] == "asyncpg" and (
        _retryable_sqlstate(_sqlstate(exc)) or type(exc).__name__ in _ASYNCPG_CONNECTION_ERRORS
    ):
        return Failure.TRANSIENT
    return Failure.UNKNOWN


def _classify_http(exc: BaseException) -> Failure:
    try:
        import httpx
    except ImportError:  # pragma: no cover - httpx is a dependency
        return Failure.UNKNOWN
    if isinstance(exc, httpx.TransportError):
        return Failure.TRANSIENT
    if isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code in {
        429,
        502,
        503,
        504,
    }:
        return Failure.TRANSIENT
    return Failure.UNKNOWN


def _retryable_sqlstate(code: str) -> bool:
    return code in _RETRYABLE_SQLSTATES or code[:2] in _RETRYABLE_SQLSTATE_CLASSES


def _sqlstate(orig: object) -> str:
    # SQLAlchemy's asyncpg adapter carries it, or the driver's error it wraps does.
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return ""


def _mysql_code(orig: object) -> int:
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return 0
