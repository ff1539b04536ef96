"""The request guard and the input types: refused with a problem document, never a 500."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.types import Message
from taskflow_chassis.edge import (
    EdgeLimits,
    document_edge_answers,
    install_request_guard,
    json_depth_and_bad_text,
)
from taskflow_chassis.problems import install_problem_handlers
from taskflow_chassis.types import UtcInstant

LIMITS = EdgeLimits(max_body_bytes=4096, max_url_bytes=1024, max_json_depth=8)


class Note(BaseModel):
    text: str
    tags: list[str] = []


def guarded_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_request_guard(app, LIMITS)

    @app.post("/notes")
    async def create(note: Note) -> Note:
        return note

    @app.get("/search")
    async def search(q: str = "") -> dict[str, str]:
        return {"q": q}

    return app


@pytest.fixture
async def client() -> Any:
    transport = httpx.ASGITransport(app=guarded_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for _ in range(levels):
        value = [value]
    return value


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


async def test_a_fine_request_passes_unchanged(client: httpx.AsyncClient) -> None:
    response = await client.post("/notes", json={"text": "a \\u0000 b", "tags": ["x"]})
    assert response.status_code == 200 and response.json()["text"] == "a \\u0000 b"
    assert (await client.get("/search", params={"q": "hello"})).json() == {"q": "hello"}


async def test_json_nested_too_deep_answers_422(client: httpx.AsyncClient) -> None:
    body = problem(await client.post("/notes", json={"text": "x", "tags": nested(8)}), 422)
    assert body["type"].endswith("json-too-deep") and body["errors"][0]["loc"] == ["body"]
    # Brackets inside strings are text, not nesting.
    fine = await client.post("/notes", json={"text": "[" * 100 + '"{', "tags": []})
    assert fine.status_code == 200


async def test_nul_and_lone_surrogates_answer_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    body = problem(await client.post("/notes", json={"text": "ok", "tags": ["a", "b\x00"]}), 422)
    assert body["errors"][0]["loc"] == ["body", "tags", 1]
    assert body["errors"][0]["field"] == "tags"
    body = problem(await client.post("/notes", json={"text\x00": "ok"}), 422)
    assert body["errors"][0]["loc"] == ["body", "text\x00"]
    body = problem(await client.post("/notes", content=b'{"text": "\\udc00"}'), 422)
    assert body["errors"][0]["loc"] == ["body", "text"]
    body = problem(await client.get("/search", params={"q": "a\x00"}), 422)
    assert body["errors"][0]["loc"] == ["query", "q"]
    problem(await client.get("/search%00"), 422)


async def test_size_limits_answer_413_and_414(client: httpx.AsyncClient) -> None:
    problem(await client.post("/notes", json={"text": "x" * 5000}), 413)

    async def chunks() -> Any:
        for _ in range(5):
            yield b" " * 1000

    problem(await client.post("/notes", content=chunks()), 413)
    body = problem(await client.get("/search", params={"q": "x" * 1100}), 414)
    assert body["type"].endswith("uri-too-long")


def test_the_scanner_counts_depth_and_finds_nul_only_in_strings() -> None:
    assert json_depth_and_bad_text(json.dumps(nested(5)).encode(), 32) == (5, False)
    assert json_depth_and_bad_text(b'{"a": "\\\\u0000"}', 32) == (1, False)
    assert json_depth_and_bad_text(b'{"a": "\\u0000"}', 32) == (1, True)
    assert json_depth_and_bad_text(b"[" * 10_000, 32)[0] == 33
    assert json_depth_and_bad_text(b'["\\ud800"]', 32) == (1, True)
    assert json_depth_and_bad_text(b'["\\ud83d\\ude00"]', 32) == (1, False)  # a pair


def test_the_openapi_document_lists_the_guards_answers() -> None:
    schema = document_edge_answers(guarded_app().openapi())
    post = schema["paths"]["/notes"]["post"]["responses"]
    get = schema["paths"]["/search"]["get"]["responses"]
    assert {"413", "414", "422"} <= set(post) and {"414", "422"} <= set(get)
    assert "application/problem+json" in post["422"]["content"]


@pytest.mark.parametrize(
    "instant",
    [
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:00:00-05:00",
        "1899-12-31T23:59:59Z",
        "2026-01-01T00:00:00",
    ],
)
def test_an_instant_out_of_range_or_without_offset_is_refused(instant: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(UtcInstant).validate_python(instant)


def test_an_instant_is_answered_in_utc() -> None:
    moment = TypeAdapter(UtcInstant).validate_python("9999-12-31T20:00:00-03:00")
    assert moment.isoformat() == "9999-12-31T23:00:00+00:00"


@pytest.mark.parametrize("encoding", [b"chunked", b"Chunked", b"CHUNKED", b"gzip, chunked"])
async def test_a_body_without_a_length_is_checked_whatever_its_encoding_says(
    encoding: bytes,
) -> None:
    """The HTTP parser takes `Chunked` as chunked: the guard must read such a body too."""
    app = guarded_app()
    body = b'{"text": "a\\u0000b"}'
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/notes",
        "raw_path": b"/notes",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"transfer-encoding", encoding)],
        "client": ("127.0.0.1", 5000),
        "server": ("t", 80),
    }
    parts = [body[:5], body[5:]]
    sent: list[Message] = []

    async def receive() -> Message:
        chunk = parts.pop(0) if parts else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(parts)}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert sent[0]["status"] == 422
