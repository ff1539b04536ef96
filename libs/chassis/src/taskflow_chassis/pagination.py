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


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


PageParamsDep = Annotated[PageParams, Depends(page_params)]


async def paginate_by_time(
    session: AsyncSession,
    query: Select[Any],
    params: PageParams,
    *,
    time_column: ColumnElement[datetime],
    id_column: ColumnElement[Any],
    descending: bool = False,
) -> tuple[list[Any], str | None]:
    """One page of ``query`` ordered by (time, id): row tuples, and the next page's cursor.

    The cursor holds the last row's (time, id); the next page starts strictly after
    it, so rows inserted meanwhile neither repeat nor shift what follows.
    """
    if params.cursor:
        raw_time, raw_id = decode_cursor(params.cursor, 2)
        try:
            after_time = datetime.fromisoformat(str(raw_time))
            after_id = id_column.type.python_type(str(raw_id))
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise ProblemError(
                400, "Invalid cursor", "The cursor is not one this API issued."
            ) from exc
        key = tuple_(time_column, id_column)
        bound = tuple_(
            literal(after_time, type_=time_column.type), literal(after_id, type_=id_column.type)
        )
        query = query.where(key < bound if descending else key > bound)
    if descending:
        query = query.order_by(time_column.desc(), id_column.desc())
    else:
        query = query.order_by(time_column, id_column)
    # The sort key rides along as two extra columns and is cut off the rows returned.
    query = query.add_columns(time_column.label("page_time"), id_column.label("page_id"))
    rows = list((await session.execute(query.limit(params.limit + 1))).all())
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    cursor = None
    if more:
        last = rows[-1]._mapping
        cursor = encode_cursor(last["page_time"].isoformat(), str(last["page_id"]))
    return [tuple(row)[:-2] for row in rows], cursor
