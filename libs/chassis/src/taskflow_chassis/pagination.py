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
from sqlalchemy import ColumnElement, Integer, Select, bindparam, tuple_
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


def keyset_statement(
    query: Select[Any],
    *,
    key: ColumnElement[Any],
    id_column: ColumnElement[Any],
    descending: bool = False,
    after: bool = False,
) -> Select[Any]:
    """``query`` as a page: ordered by (key, id), ``page_limit`` rows, and with ``after``
    only the rows past the bound position ``after_key``, ``after_id``.

    Everything a request varies is a bound parameter, so a caller may build the
    statement once per shape and keep it: a statement used again is neither rebuilt
    nor keyed again for SQLAlchemy's compiled cache. ``key`` must never be NULL
    (wrap a nullable column in ``coalesce``).
    """
    if after:
        position = tuple_(key, id_column)
        bound = tuple_(
            bindparam("after_key", type_=key.type), bindparam("after_id", type_=id_column.type)
        )
        query = query.where(position < bound if descending else position > bound)
    if descending:
        query = query.order_by(key.desc(), id_column.desc())
    else:
        query = query.order_by(key, id_column)
    # The sort key rides along as two extra columns and is cut off the rows returned.
    query = query.add_columns(key.label("page_key"), id_column.label("page_id"))
    return query.limit(bindparam("page_limit", type_=Integer))


def cursor_values(params: PageParams, *, id_column: ColumnElement[Any]) -> dict[str, Any]:
    """The bound values ``keyset_statement`` needs for this request's page."""
    values: dict[str, Any] = {"page_limit": params.limit + 1}  # one more: is there a next page?
    if params.cursor:
        raw_key, raw_id = decode_cursor(params.cursor, 2)
        try:
            values["after_key"] = _from_cursor(raw_key)
            values["after_id"] = id_column.type.python_type(str(raw_id))
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise ProblemError(
                400, "Invalid cursor", "The cursor is not one this API issued."
            ) from exc
    return values


async def fetch_page(
    session: AsyncSession, statement: Select[Any], params: PageParams, values: dict[str, Any]
) -> tuple[list[tuple[Any, ...]], str | None]:
    """Run a ``keyset_statement``: row tuples, and the next page's cursor.

    The cursor holds the last row's (key, id); the next page starts strictly after
    it, so rows inserted meanwhile neither repeat nor shift what follows.
    """
    rows = list((await session.execute(statement, values)).all())
    more = len(rows) > params.limit
    rows = rows[: params.limit]
    cursor = None
    if more:
        last = rows[-1]._mapping
        cursor = encode_cursor(_cursor_value(last["page_key"]), str(last["page_id"]))
    return [tuple(row)[:-2] for row in rows], cursor


async def paginate(
    session: AsyncSession,
    query: Select[Any],
    params: PageParams,
    *,
    key: ColumnElement[Any],
    id_column: ColumnElement[Any],
    descending: bool = False,
) -> tuple[list[tuple[Any, ...]], str | None]:
    """One page of ``query`` ordered by (key, id): row tuples, and the next page's cursor."""
    values = cursor_values(params, id_column=id_column)
    statement = keyset_statement(
        query, key=key, id_column=id_column, descending=descending, after="after_id" in values
    )
    return await fetch_page(session, statement, params, values)


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
