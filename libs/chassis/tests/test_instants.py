"""Instants in the API: ISO 8601 with an offset, or a date alone where the field says so;
never a number, which pydantic would read as seconds since 1970."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError
from taskflow_chassis.types import DayEndOrInstant, DayStartOrInstant, UtcInstant


@pytest.mark.parametrize("kind", [UtcInstant, DayStartOrInstant, DayEndOrInstant])
@pytest.mark.parametrize("value", [20261201, "20261201", 1733011200, "1733011200.5", 1.5e9])
def test_a_number_is_not_an_instant(kind: Any, value: object) -> None:
    with pytest.raises(ValidationError, match="ISO 8601"):
        TypeAdapter(kind).validate_python(value)


def test_a_date_alone_is_that_day_s_start_or_end_in_utc() -> None:
    start = TypeAdapter(DayStartOrInstant).validate_python("2026-12-01")
    end = TypeAdapter(DayEndOrInstant).validate_python("2026-12-01")
    assert start == datetime(2026, 12, 1, tzinfo=UTC)
    assert end == datetime(2026, 12, 1, 23, 59, 59, 999_999, tzinfo=UTC)


def test_an_instant_with_an_offset_is_kept_in_utc() -> None:
    moment = TypeAdapter(UtcInstant).validate_python("2026-12-01T10:00:00+01:00")
    assert moment == datetime(2026, 12, 1, 9, tzinfo=UTC)
