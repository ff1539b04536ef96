"""Keyset pagination: ``limit`` and an opaque ``cursor`` in, ``items`` and ``next_cursor`` out.

The cursor encodes the sort key of the last item served, so a page is found with
an index seek, never an OFFSET, and inserts between pages do not shift items.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from taskflow_chassis.problems import ProblemError

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    cursor: str | None


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(list(values), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """Decode a cursor made by ``encode_cursor`` with ``size`` values, or answer 400."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(400, "Invalid cursor", "The cursor is not one this API issued.") from exc
    if not isinstance(values, list) or len(values) != size:
        raise ProblemError(400, "Invalid cursor", "The cursor is not one this API issued.")
    return values


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageParamsDep = Annotated[PageParams, Depends(page_params)]


def _cursor_value(value: Any) -> Any:
    return {"t": value.isoformat()} if isinstance(value, datetime) else value


def _from_cursor(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"t"}:
        return datetime.fromisoformat(str(value["t"]))
    return value


async def paginate(
    session: AsyncSession,
    query: Select[Any],
    params: PageParams,
    *,
    key: ColumnElement[Any],
    id_column: ColumnElement[Any],
    descending: bool = False,
) -> tuple[list[tuple[Any, ...]], str | None]:
    """One page of ``query`` ordered by (key, id): row tuples, and the next page's cursor.

    The cursor holds the last row's (key, id); the next page starts strictly after
    it, so rows inserted meanwhile neither repeat nor shift what follows. ``key``
    must never be NULL (wrap a nullable column in ``coalesce``).
    """
    if params.cursor:
        raw_key, raw_id = decode_cursor(params.cursor, 2)
        try:
            after_key = _from_cursor(raw_key)
            after_id = id_column.type.python_type(str(raw_id))
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise ProblemError(
                400, "Invalid cursor", "The cursor is not one this API issued."
            ) from exc
        position = tuple_(key, id_column)
        bound = tuple_(literal(after_key, type_=key.type), literal(after_id, type_=id_column.type))
        query = query.where(position < bound if descending else position > bound)
    if descending:
        query = query.order_by(key.desc(), id_column.desc())
    else:
        query = query.order_by(key, id_column)
    # The sort key rides along as two extra columns and is cut off the rows returned.
    query = query.add_columns(key.label("page_key"), id_column.label("page_id"))
    rows = list((await session.execute(query.limit(params.limit + 1))).all())
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    cursor = None
    if more:
        last = rows[-1]._mapping
        cursor = encode_cursor(_cursor_value(last["page_key"]), str(last["page_id"]))
    return [tuple(row)[:-2] for row in rows], cursor


async def paginate_by_time(
    session: AsyncSession,
    query: Select[Any],
    params: PageParams,
    *,
    time_column: ColumnElement[datetime],
    id_column: ColumnElement[Any],
    descending: bool = False,
) -> tuple[list[tuple[Any, ...]], str | None]:
    """``paginate`` by creation (or join) time: the common case."""
    return await paginate(
        session, query, params, key=time_column, id_column=id_column, descending=descending
    )
