"""Column types that behave the same on SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, WithJsonSchema
from sqlalchemy import Column, DateTime, Table
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class UtcDateTime(TypeDecorator[datetime]):
    """Always stores UTC and always returns aware UTC datetimes.

    SQLite and MySQL keep no offset and hand back naive values; comparing those
    with aware ones raises, so every time crossing this type is made aware.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "mysql":
            # MySQL's plain DATETIME drops microseconds, and with them the order of
            # rows written in the same second (keyset pages, outbox order).
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if dialect.name != "postgresql":
            value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    """A ``sa_column`` for SQLModel fields holding instants."""
    return Column(UtcDateTime(), nullable=nullable, index=index)


def utcnow() -> datetime:
    return datetime.now(UTC)


# The years of an instant a client may send: every database here stores them (MySQL's
# DATETIME ends at 9999), and none overflows when converted to UTC.
EARLIEST_YEAR = 1900
LATEST_YEAR = 9999


def _to_utc(value: datetime) -> datetime:
    try:
        moment = value.astimezone(UTC)
    except OverflowError as exc:  # year 1 east of UTC, year 9999 west of it
        raise ValueError("the instant is out of range once converted to UTC") from exc
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise ValueError(f"the year must be from {EARLIEST_YEAR} to {LATEST_YEAR} in UTC")
    return moment


_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?")


def _refuse_numbers(value: object) -> object:
    """pydantic would read a number as seconds since 1970: ``20261201``, a compact date,
    would become a day of 1970. An instant is written in ISO 8601, with its offset."""
    if (isinstance(value, int | float) and not isinstance(value, bool)) or (
        isinstance(value, str) and _NUMBER.fullmatch(value.strip())
    ):
        raise ValueError(
            "write the instant in ISO 8601 with its offset, such as 2026-12-01T09:00:00Z"
        )
    return value


# API input for an instant: an offset is required (no guessing a naive time's zone),
# and it is stored and answered in UTC.
UtcInstant = Annotated[AwareDatetime, BeforeValidator(_refuse_numbers), AfterValidator(_to_utc)]

_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
START_OF_DAY = time(0, 0, tzinfo=UTC)
END_OF_DAY = time(23, 59, 59, 999_999, tzinfo=UTC)


def _day_at(moment: time) -> BeforeValidator:
    """A date alone (``2026-12-01``) as that day at ``moment`` in UTC; anything else as
    sent, for the instant's own validation."""

    def convert(value: object) -> object:
        if isinstance(value, str) and _DATE_ONLY.fullmatch(value):
            value = date.fromisoformat(value)  # ValueError (a 422) for 2026-02-30
        if isinstance(value, date) and not isinstance(value, datetime):
            return datetime.combine(value, moment)
        return value

    return BeforeValidator(convert)


def _date_or_instant(description: str) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "string", "format": "date"},
            ],
            "description": description,
        }
    )


# API input for an instant that may be a whole day: a date-time with its offset, or a
# date alone, the day in UTC, taken as its first moment (``DayStartOrInstant``) or its
# last (``DayEndOrInstant``: due on a day means due by its end).
DayStartOrInstant = Annotated[
    UtcInstant,
    _day_at(START_OF_DAY),
    _date_or_instant("A date-time with its offset, or a date alone: the start of that day in UTC."),
]
DayEndOrInstant = Annotated[
    UtcInstant,
    _day_at(END_OF_DAY),
    _date_or_instant(
        "A date-time with its offset, or a date alone: the end of that day in UTC "
        "(23:59:59.999999Z)."
    ),
]


def table_of(model: type[Any]) -> Table:
    """The Core table of a table model, for statements that need no ORM objects."""
    table = sa_inspect(model).local_table
    assert isinstance(table, Table)
    return table
