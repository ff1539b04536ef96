"""Keyset pagination over a real table: every row once, in order, across pages."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, tuple_
from taskflow_chassis.db import Database
from taskflow_chassis.pagination import Page, PageParamsDep, decode_cursor, encode_cursor
from taskflow_chassis.problems import ProblemError, install_problem_handlers

metadata = MetaData()
items = Table(
    "items", metadata, Column("id", String(36), primary_key=True), Column("rank", Integer)
)


def test_cursor_round_trip() -> None:
    cursor = encode_cursor(3, "abc")
    assert decode_cursor(cursor, 2) == [3, "abc"]
    with pytest.raises(ProblemError):
        decode_cursor("!!!", 2)
    with pytest.raises(ProblemError):
        decode_cursor(encode_cursor(1), 2)


async def test_pages_cover_every_row_once(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
        await conn.execute(
            insert(items), [{"id": str(uuid.uuid4()), "rank": n % 7} for n in range(123)]
        )
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/items")
    async def list_items(page: PageParamsDep) -> Page[dict[str, object]]:
        query = select(items).order_by(items.c.rank, items.c.id).limit(page.limit + 1)
        if page.cursor:
            rank, last_id = decode_cursor(page.cursor, 2)
            query = query.where(tuple_(items.c.rank, items.c.id) > tuple_(rank, last_id))
        async with database.engine.connect() as conn:
            rows = [dict(r._mapping) for r in await conn.execute(query)]
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        cursor = encode_cursor(rows[-1]["rank"], rows[-1]["id"]) if more else None
        return Page(items=rows, next_cursor=cursor)

    seen: list[str] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        cursor = None
        while True:
            params: dict[str, str | int] = {"limit": 50}
            if cursor:
                params["cursor"] = cursor
            body = (await client.get("/items", params=params)).json()
            seen += [item["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert (await client.get("/items", params={"limit": 201})).status_code == 422
        assert (await client.get("/items", params={"limit": 0})).status_code == 422
        assert (await client.get("/items", params={"cursor": "garbage"})).status_code == 400
    assert len(seen) == 123 and len(set(seen)) == 123
    await database.dispose()
