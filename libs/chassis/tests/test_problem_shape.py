"""One problem shape: every answer has type, title, status and detail; a 409 has errors[]
as a 422 does (issue 18)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from taskflow_chassis.problems import (
    PROBLEM_TYPE_BASE,
    ProblemError,
    conflict,
    install_problem_handlers,
    invalid_field,
    problem_response,
)


class Thing(BaseModel):
    name: str


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    async def create(thing: Thing) -> Thing:
        raise conflict("Name taken", "A thing has this name.", type="name-taken", field="name")

    @app.delete("/things/{thing_id}")
    async def delete(thing_id: str) -> None:
        raise conflict(
            "Thing in use",
            "Something holds this thing.",
            type="thing-in-use",
            field="thing_id",
            loc=["path", "thing_id"],
            holders=2,
        )

    @app.get("/things/{thing_id}")
    async def read(thing_id: str) -> None:
        raise HTTPException(status_code=404)

    @app.get("/gone")
    async def gone() -> None:
        raise HTTPException(status_code=410, detail="Gone")

    @app.get("/bare")
    async def bare() -> None:
        raise ProblemError(418, "I'm a teapot")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body.get(member), str) and body[member], (member, body)
    return body


async def test_a_conflict_names_its_field_as_a_422_does(client: httpx.AsyncClient) -> None:
    body = problem(await client.post("/things", json={"name": "x"}), 409)
    assert body["type"] == PROBLEM_TYPE_BASE + "name-taken"
    assert body["errors"] == [
        {"loc": ["body", "name"], "field": "name", "type": "name-taken", "msg": body["detail"]}
    ]
    assert body["field"] == "name"  # where the first 409s put it: kept for their clients
    invalid = problem(await client.post("/things", json={"name": 5}), 422)
    assert set(invalid["errors"][0]) == set(body["errors"][0])


async def test_a_conflict_on_the_object_a_path_names(client: httpx.AsyncClient) -> None:
    body = problem(await client.delete("/things/7"), 409)
    assert body["errors"] == [
        {
            "loc": ["path", "thing_id"],
            "field": "thing_id",
            "type": "thing-in-use",
            "msg": "Something holds this thing.",
        }
    ]
    assert body["field"] == "thing_id" and body["holders"] == 2


def test_the_builders_agree() -> None:
    taken = conflict("Taken", "Taken.", type="taken", field="email")
    refused = invalid_field("email", "Refused", "Refused.", type="refused")
    assert set(taken.extensions["errors"][0]) == set(refused.extensions["errors"][0])
    assert taken.extensions["errors"][0]["loc"] == refused.extensions["errors"][0]["loc"]


async def test_an_unknown_path_and_method_say_what_was_wrong(client: httpx.AsyncClient) -> None:
    missing = problem(await client.get("/nowhere"), 404)
    assert missing["title"] == "Not Found" and missing["detail"] == "No route for /nowhere."
    assert missing["instance"] == "/nowhere"
    refused = await client.put("/things/7")
    body = problem(refused, 405)
    assert body["title"] == "Method Not Allowed"
    assert body["detail"].startswith("PUT is not allowed on /things/7.")
    assert "GET" in body["detail"] and "DELETE" in body["detail"]
    assert refused.headers["allow"] == "DELETE, GET"  # every route of the path, not the first


async def test_a_bare_http_exception_gets_a_detail(client: httpx.AsyncClient) -> None:
    # A route raising HTTPException(404) with no words of its own: the path is named.
    assert problem(await client.get("/things/7"), 404)["detail"] == "Nothing found at /things/7."
    assert problem(await client.get("/gone"), 410)["detail"] == "The request failed: gone."
    assert problem(await client.get("/bare"), 418)["detail"]


def test_problem_response_always_has_a_detail() -> None:
    import json

    for status in (400, 401, 403, 404, 405, 409, 413, 422, 429, 500, 503):
        body = json.loads(bytes(problem_response(status).body))
        assert body["detail"] and body["title"] and body["status"] == status
