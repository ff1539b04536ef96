"""Structured logs carry the request's correlation id; the id is echoed to the client."""

from __future__ import annotations

import json
import logging

import httpx
from fastapi import FastAPI
from taskflow_chassis.logs import CorrelationIdMiddleware, JsonFormatter, current_correlation_id


async def test_correlation_id_from_header_or_fresh() -> None:
    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware)

    @app.get("/cid")
    async def cid() -> dict[str, str | None]:
        return {"cid": current_correlation_id()}

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        given = await client.get("/cid", headers={"X-Correlation-Id": "req-1"})
        assert given.json()["cid"] == "req-1" and given.headers["x-correlation-id"] == "req-1"
        fresh = await client.get("/cid")
        assert fresh.json()["cid"] and fresh.headers["x-correlation-id"] == fresh.json()["cid"]
        hostile = await client.get("/cid", headers={"X-Correlation-Id": "x" * 500})
        assert hostile.json()["cid"] != "x" * 500
    assert current_correlation_id() is None


def test_json_lines_carry_the_id() -> None:
    from taskflow_chassis.logs import correlation_id

    token = correlation_id.set("trace-7")
    try:
        record = logging.LogRecord("svc", logging.INFO, __file__, 1, "hello %s", ("world",), None)
        record.user_id = "u1"
        line = json.loads(JsonFormatter().format(record))
    finally:
        correlation_id.reset(token)
    assert line["message"] == "hello world" and line["correlation_id"] == "trace-7"
    assert line["user_id"] == "u1" and line["level"] == "INFO"
