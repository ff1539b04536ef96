"""problem+json for HTTP errors, validation errors and unexpected errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from taskflow_chassis.logs import CorrelationIdMiddleware
from taskflow_chassis.problems import ProblemError, install_problem_handlers


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=10)
    count: int


def build_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(CorrelationIdMiddleware)
    install_problem_handlers(app)

    @app.post("/things")
    async def create(thing: Thing) -> Thing:
        return thing

    @app.get("/teapot")
    async def teapot() -> None:
        raise ProblemError(
            418, "I'm a teapot", "Short and stout.", type="teapot", hint="tip me over"
        )

    @app.get("/http")
    async def http() -> None:
        raise HTTPException(status_code=403, detail="Not yours.")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 SELECT * FROM users")

    @app.get("/cache-gone")
    async def cache_gone() -> None:
        import redis.exceptions

        raise redis.exceptions.ConnectionError("Error 111 connecting to 10.0.0.5:6379")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


async def test_validation_errors_name_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json={"name": "x" * 11, "count": "many", "extra": 1})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422 and body["title"] == "Validation failed"
    fields = sorted(e["field"] for e in body["errors"])
    assert fields == ["count", "extra", "name"]
    assert all(e["loc"][0] == "body" for e in body["errors"])


async def test_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/things", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["title"] == "Malformed JSON"


async def test_problem_error_with_extensions(client: httpx.AsyncClient) -> None:
    response = await client.get("/teapot")
    body = response.json()
    assert response.status_code == 418
    assert body["type"].endswith("/teapot") and body["hint"] == "tip me over"
    assert body["detail"] == "Short and stout." and body["instance"] == "/teapot"


async def test_http_exception_and_404(client: httpx.AsyncClient) -> None:
    forbidden = await client.get("/http")
    assert forbidden.status_code == 403 and forbidden.json()["detail"] == "Not yours."
    missing = await client.get("/nowhere")
    assert (
        missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    )
    wrong_method = await client.delete("/things")
    assert wrong_method.status_code == 405


async def test_unhandled_error_hides_internals(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom", headers={"X-Correlation-Id": "abc-123"})
    assert response.status_code == 500
    text = response.text
    assert "hunter2" not in text and "SELECT" not in text and "RuntimeError" not in text
    assert response.json()["correlation_id"] == "abc-123"


async def test_an_unreachable_cache_or_broker_is_503_never_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/cache-gone")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert "10.0.0.5" not in response.text


async def test_unreachable_database_is_503_and_says_nothing_changed() -> None:
    from sqlalchemy import text
    from taskflow_chassis.db import Database

    app = FastAPI()
    install_problem_handlers(app)
    database = Database("postgresql://nobody@127.0.0.1:1/none", connect_args={"timeout": 2})

    @app.post("/write")
    async def write() -> None:
        async with database.session() as session:
            await session.execute(text("SELECT 1"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/write")
    await database.dispose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert "127.0.0.1" not in response.text and "nobody" not in response.text
