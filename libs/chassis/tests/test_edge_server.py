"""What never reaches the app is still answered with a problem document, by uvicorn."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from taskflow_chassis.edge import PROBLEM_HTTP_PROTOCOL, EdgeLimits


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = FastAPI()

    @app.get("/echo")
    async def echo(q: str = "") -> dict[str, int]:
        return {"length": len(q)}

    config = uvicorn.Config(
        app,
        port=0,  # any free port: read back once listening
        log_config=None,
        http=PROBLEM_HTTP_PROTOCOL,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    port: int = server.servers[0].sockets[0].getsockname()[1]
    yield port
    server.should_exit = True
    await serving


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], Any]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, json.loads(body) if body else None


def get(target: str) -> bytes:
    return f"GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()


async def test_a_url_within_the_limit_reaches_the_app(port: int) -> None:
    query = "x" * (EdgeLimits().max_url_bytes - 100)
    status, _, body = await exchange(port, get(f"/echo?q={query}"))
    assert status == 200 and body == {"length": len(query)}


@pytest.mark.parametrize("size", [EdgeLimits().max_url_bytes + 1, 70_000, 1_048_576])
async def test_an_over_long_url_answers_414_problem(port: int, size: int) -> None:
    status, headers, body = await exchange(port, get("/echo?q=" + "x" * size))
    assert status == 414
    assert headers["content-type"] == "application/problem+json"
    assert body["status"] == 414 and body["type"].endswith("uri-too-long")


async def test_a_malformed_request_answers_400_problem(port: int) -> None:
    status, headers, body = await exchange(port, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400
    assert headers["content-type"] == "application/problem+json"
    assert body["status"] == 400
