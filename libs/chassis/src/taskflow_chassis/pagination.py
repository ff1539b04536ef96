"""Keyset pagination: ``limit`` and an opaque ``cursor`` in, ``items`` and ``next_cursor`` out.

The cursor encodes the sort key of the last item served, so a page is found with
an index seek, never an OFFSET, and inserts between pages do not shift items.
It is bound to the list it came from (path, sort and filters): used elsewhere, or
with a key not of the sort column's type, it answers 400 ``invalid-cursor``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import BigInteger, ColumnElement, Integer, Select, bindparam, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeDecorator

from taskflow_chassis.problems import ProblemError

# A select of any columns (SQLAlchemy 2.1 types a select by the tuple of its columns).
AnySelect = Select[*tuple[Any, ...]]

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# The query parameters that page through a list rather than choose it.
PAGING_PARAMETERS = frozenset({"cursor", "limit"})


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int
    cursor: str | None
    # The list a cursor belongs to: a digest of the path and the query but for paging.
    scope: str = ""


def encode_cursor(*values: Any) -> str:
    raw = json.dumps(list(values), separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def invalid_cursor(detail: str = "The cursor is not one this API issued.") -> ProblemError:
    return ProblemError(400, "Invalid cursor", detail, type="invalid-cursor")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    """Decode a cursor made by ``encode_cursor`` with ``size`` values, or answer 400."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise invalid_cursor() from exc
    if not isinstance(values, list) or len(values) != size:
        raise invalid_cursor()
    return values


def list_scope(path: str, query: Iterable[tuple[str, str]]) -> str:
    """What a cursor is bound to: the path and every query parameter but the paging ones,
    as a set: a repeated filter's values are OR'ed, so neither their order nor a value
    given twice changes the list (``status=a&status=b`` is ``status=b&status=a``)."""
    chosen = sorted({(name, value) for name, value in query if name not in PAGING_PARAMETERS})
    digest = hashlib.sha256(json.dumps([path, chosen]).encode()).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()


async def page_params(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> PageParams:
    scope = list_scope(request.url.path, request.query_params.multi_items())
    return PageParams(limit=limit, cursor=cursor, scope=scope)


PageParamsDep = Annotated[PageParams, Depends(page_params)]


def _cursor_value(value: Any) -> Any:
    return {"t": value.isoformat()} if isinstance(value, datetime) else value


def _python_type(column: ColumnElement[Any]) -> type | None:
    column_type = column.type
    if isinstance(column_type, TypeDecorator):  # its own python_type is object
        column_type = column_type.impl_instance
    try:
        kind: type = column_type.python_type
    except NotImplementedError:
        return None
    return kind


def _from_cursor(raw: Any, column: ColumnElement[Any]) -> Any:
    """A position value from a cursor, as the column's type, or 400: a value of another
    type (or out of its range) would fail in the database, a 500."""
    kind = _python_type(column)
    if kind is datetime:
        return _instant_from_cursor(raw)
    if kind is uuid.UUID:
        return _uuid_from_cursor(raw)
    if kind is int:
        return _integer_from_cursor(raw, bits=63 if isinstance(column.type, BigInteger) else 31)
    if kind is float:
        return _float_from_cursor(raw)
    if kind in (str, None) and isinstance(raw, str) and "\x00" not in raw:
        return raw
    raise invalid_cursor()


def _instant_from_cursor(raw: Any) -> datetime:
    if not (isinstance(raw, dict) and set(raw) == {"t"} and isinstance(raw["t"], str)):
        raise invalid_cursor()
    try:
        moment = datetime.fromisoformat(raw["t"])
        if moment.tzinfo is None:
            raise invalid_cursor()
        return moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise invalid_cursor() from exc


def _uuid_from_cursor(raw: Any) -> uuid.UUID:
    if not isinstance(raw, str):
        raise invalid_cursor()
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise invalid_cursor() from exc


def _integer_from_cursor(raw: Any, *, bits: int) -> int:
    """An integer the column's type holds (``bits`` of magnitude: a signed 32 or 64-bit)."""
    if isinstance(raw, int) and not isinstance(raw, bool) and -(2**bits) <= raw < 2**bits:
        return raw
    raise invalid_cursor()


def _float_from_cursor(raw: Any) -> float:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        return float(raw)
    raise invalid_cursor()


def keyset_statement(
    query: AnySelect,
    *,
    key: ColumnElement[Any],
    id_column: ColumnElement[Any],
    descending: bool = False,
    after: bool = False,
) -> AnySelect:
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


def cursor_values(
    params: PageParams, *, key: ColumnElement[Any], id_column: ColumnElement[Any]
) -> dict[str, Any]:
    """The bound values ``keyset_statement`` needs for this request's page: 400 for a
    cursor of another list, or whose position is not of the key's and id's types."""
    values: dict[str, Any] = {"page_limit": params.limit + 1}  # one more: is there a next page?
    if params.cursor:
        scope, raw_key, raw_id = decode_cursor(params.cursor, 3)
        if scope != params.scope:
            raise invalid_cursor(
                "The cursor belongs to another list, sort or filter; "
                "ask for the first page again without it."
            )
        values["after_key"] = _from_cursor(raw_key, key)
        values["after_id"] = _from_cursor(raw_id, id_column)
    return values


async def fetch_page(
    session: AsyncSession, statement: AnySelect, params: PageParams, values: dict[str, Any]
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
        cursor = encode_cursor(
            params.scope, _cursor_value(last["page_key"]), _cursor_value(last["page_id"])
        )
    return [tuple(row)[:-2] for row in rows], cursor


async def paginate(
    session: AsyncSession,
    query: AnySelect,
    params: PageParams,
    *,
    key: ColumnElement[Any],
    id_column: ColumnElement[Any],
    descending: bool = False,
) -> tuple[list[tuple[Any, ...]], str | None]:
    """One page of ``query`` ordered by (key, id): row tuples, and the next page's cursor."""
    values = cursor_values(params, key=key, id_column=id_column)
    statement = keyset_statement(
        query, key=key, id_column=id_column, descending=descending, after="after_id" in values
    )
    return await fetch_page(session, statement, params, values)


async def paginate_by_time(
    session: AsyncSession,
    query: AnySelect,
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
