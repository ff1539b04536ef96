"""A cursor is bound to its list, and its position must have the sort key's type."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Uuid
from taskflow_chassis.pagination import PageParams, cursor_values, encode_cursor, list_scope
from taskflow_chassis.problems import ProblemError
from taskflow_chassis.types import UtcDateTime

rows = Table(
    "rows",
    MetaData(),
    Column("id", Uuid, primary_key=True),
    Column("rank", Integer),
    Column("big", BigInteger),
    Column("name", String(50)),
    Column("at", UtcDateTime()),
)
SCOPE = list_scope("/things", [("sort", "rank"), ("status", "open")])
# Fixed, not random: test ids must be the same in every pytest-xdist worker.
ID = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"


def position(key: str, raw_key: Any, raw_id: Any = ID, scope: str = SCOPE) -> dict[str, Any]:
    params = PageParams(limit=10, cursor=encode_cursor(scope, raw_key, raw_id), scope=SCOPE)
    return cursor_values(params, key=rows.c[key], id_column=rows.c.id)


def test_the_scope_ignores_paging_and_order_but_not_filters() -> None:
    same = list_scope("/things", [("status", "open"), ("limit", "5"), ("sort", "rank")])
    assert same == SCOPE
    assert list_scope("/things", [("sort", "rank")]) != SCOPE
    assert list_scope("/other", [("sort", "rank"), ("status", "open")]) != SCOPE


def test_positions_of_the_right_type_are_bound() -> None:
    assert position("rank", 3) == {"page_limit": 11, "after_key": 3, "after_id": uuid.UUID(ID)}
    assert position("name", "Ada")["after_key"] == "Ada"
    year_one = position("at", {"t": "0001-01-01T00:00:00+00:00"})["after_key"]
    assert year_one == datetime(1, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "raw_key", "raw_id"),
    [
        ("rank", 3, "not-a-uuid"),
        ("rank", 3, 12),
        ("rank", "3", ID),
        ("rank", True, ID),
        ("rank", 2**31, ID),
        ("big", 2**63, ID),
        ("rank", 1.5, ID),
        ("name", 12, ID),
        ("name", "a\x00", ID),
        ("at", {"t": "not a time"}, ID),
        ("at", {"t": "2026-01-01T00:00:00"}, ID),
        ("at", {"t": "0001-01-01T00:00:00+05:00"}, ID),
        ("at", "2026-01-01T00:00:00Z", ID),
        ("at", {"t": 5}, ID),
    ],
)
def test_a_position_of_another_type_answers_400(key: str, raw_key: Any, raw_id: Any) -> None:
    with pytest.raises(ProblemError) as refused:
        position(key, raw_key, raw_id)
    assert refused.value.status == 400 and refused.value.type.endswith("invalid-cursor")


def test_a_cursor_of_another_list_answers_400() -> None:
    other = list_scope("/things", [("sort", "-rank"), ("status", "open")])
    with pytest.raises(ProblemError) as refused:
        position("rank", 3, scope=other)
    assert refused.value.status == 400 and "another list" in str(refused.value.detail)
