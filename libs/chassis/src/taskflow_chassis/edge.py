"""The request guard: what no route should have to check, refused before FastAPI parses.

A body over ``max_body_bytes`` answers 413; a URL over ``max_url_bytes`` 414; a JSON
body nested deeper than ``max_json_depth`` 422; text no database stores, in a JSON string
(NUL, which PostgreSQL refuses, or an unpaired surrogate, which no UTF-8 answer can
carry), the path or the query: 422 naming the field.
Each answer is a problem document, and the OpenAPI document lists them.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskflow_chassis.problems import PROBLEM_TYPE_BASE, problem_response, problem_responses

# uvicorn's ``http`` option for every server of TaskFlow: httptools, answering what never
# reaches the app (an over-long URL, a malformed request) with a problem document.
PROBLEM_HTTP_PROTOCOL = "taskflow_chassis.edge_server:ProblemHttpToolsProtocol"


class EdgeLimits(BaseSettings):
    """Shared by every service (``TASKFLOW_MAX_BODY_BYTES``...); the gateway's body limit
    is the same 1 MiB."""

    model_config = SettingsConfigDict(env_prefix="TASKFLOW_", extra="ignore")

    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    max_url_bytes: int = Field(default=8192, ge=256)
    max_json_depth: int = Field(default=32, ge=2)


# A JSON string (escapes included) or a bracket: everything else in JSON is flat.
_JSON_TOKENS = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"|[\[\]{}]', re.DOTALL)
_NUL_ESCAPE = b"\\u0000"
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_OPENERS = frozenset(b"[{")
_CLOSERS = frozenset(b"]}")


def unstorable(text: str) -> bool:
    """Whether ``text`` holds NUL or an unpaired surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def json_depth_and_bad_text(body: bytes, limit: int) -> tuple[int, bool]:
    """How deep ``body`` nests (stopping once past ``limit``) and whether a string in it
    is ``unstorable``, without parsing it: a body refused costs no tree of objects."""
    depth = deepest = 0
    bad = False
    for token in _JSON_TOKENS.finditer(body):
        first = token.group()[0]
        if first in _OPENERS:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif first in _CLOSERS:
            depth -= 1
        elif not bad and (_NUL_ESCAPE in token.group() or _SURROGATE_ESCAPE.search(token.group())):
            # "\\u0000" is a backslash and text, and a surrogate may have its pair: only
            # decoding tells.
            with contextlib.suppress(ValueError):
                bad = unstorable(json.loads(token.group()))
    return deepest, bad


def bad_text_location(body: bytes) -> list[str | int]:
    """Where in the JSON document the first ``unstorable`` text is, as an error's ``loc``."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return ["body"]
    stack: list[tuple[Any, list[str | int]]] = [(document, ["body"])]
    while stack:
        node, loc = stack.pop()
        if isinstance(node, str):
            if unstorable(node):
                return loc
        elif isinstance(node, dict):
            for key, value in node.items():
                if unstorable(key):
                    return [*loc, key.encode(errors="replace").decode()]
                stack.append((value, [*loc, key]))
        elif isinstance(node, list):
            stack.extend((value, [*loc, index]) for index, value in enumerate(node))
    return ["body"]


def _field_error(loc: list[str | int], kind: str, message: str) -> dict[str, Any]:
    field = next((part for part in reversed(loc) if isinstance(part, str)), "body")
    return {"loc": loc, "field": field, "type": kind, "msg": message}


def _malformed(path: str) -> Any:
    message = "The request body is not valid JSON (UTF-8 expected)."
    return problem_response(
        422,
        "Malformed JSON",
        message,
        type=PROBLEM_TYPE_BASE + "malformed-json",
        instance=path,
        errors=[_field_error(["body"], "json_invalid", message)],
    )


def _bad_text_problem(path: str, loc: list[str | int]) -> Any:
    message = "Text may not contain NUL (\\u0000) or an unpaired surrogate."
    return problem_response(
        422,
        "Validation failed",
        message,
        type=PROBLEM_TYPE_BASE + "validation",
        instance=path,
        errors=[_field_error(loc, "unstorable_text", message)],
    )


class RequestGuard:
    """Pure ASGI middleware: the body is read (at most ``max_body_bytes``) and checked
    here, then handed on unchanged."""

    def __init__(self, app: ASGIApp, limits: EdgeLimits | None = None) -> None:
        self.app = app
        self.limits = limits or EdgeLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refuse_target(scope)
        if refusal is None:
            body, refusal = await self._read_body(scope, receive)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        if body is None:
            await self.app(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _refuse_target(self, scope: Scope) -> Any:
        path: str = scope["path"]
        query: bytes = scope.get("query_string", b"")
        target = len(scope.get("raw_path") or path.encode()) + len(query)
        if target > self.limits.max_url_bytes:
            return problem_response(
                414,
                "URI too long",
                f"The path and query are limited to {self.limits.max_url_bytes} bytes.",
                type=PROBLEM_TYPE_BASE + "uri-too-long",
                instance=path[:200],
            )
        if "\x00" in path:
            return _bad_text_problem(path.replace("\x00", ""), ["path"])
        if b"%00" in query:
            for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if "\x00" in name or "\x00" in value:
                    return _bad_text_problem(path, ["query", name.replace("\x00", "")])
        return None

    async def _read_body(self, scope: Scope, receive: Receive) -> tuple[bytes | None, Any]:
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        # Any Transfer-Encoding means a body (its value in any case: `Chunked` is chunked
        # to the HTTP parser too), so it is read and checked like one with a length.
        if length is None and not headers.get(b"transfer-encoding"):
            return None, None
        limit = self.limits.max_body_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            return None, self._too_large(scope)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None, None  # the client left: nothing to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None, self._too_large(scope)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        depth, bad_text = json_depth_and_bad_text(body, self.limits.max_json_depth)
        if depth > self.limits.max_json_depth:
            message_text = f"JSON may nest at most {self.limits.max_json_depth} levels deep."
            return None, problem_response(
                422,
                "JSON nested too deep",
                message_text,
                type=PROBLEM_TYPE_BASE + "json-too-deep",
                instance=scope["path"],
                errors=[_field_error(["body"], "json_too_deep", message_text)],
            )
        if bad_text:
            return None, _bad_text_problem(scope["path"], bad_text_location(body))
        try:
            body.decode()
        except UnicodeDecodeError:
            # FastAPI would answer a bare 400; every other unreadable body is this 422.
            return None, _malformed(scope["path"])
        return body, None

    def _too_large(self, scope: Scope) -> Any:
        return problem_response(
            413,
            "Content too large",
            f"The request body is limited to {self.limits.max_body_bytes} bytes.",
            type=PROBLEM_TYPE_BASE + "content-too-large",
            instance=scope["path"],
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


def document_edge_answers(schema: dict[str, Any]) -> dict[str, Any]:
    """Every operation lists what the guard and the chassis may answer it: 414 to any,
    413 where it takes a body, 422 where it takes input, 400 where it takes a cursor."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            names = {parameter.get("name") for parameter in operation.get("parameters", [])}
            statuses = [414]
            if "requestBody" in operation:
                statuses += [413, 422]
            elif names:
                statuses.append(422)
            if "cursor" in names:
                statuses.append(400)
            responses = operation["responses"]
            for status, entry in problem_responses(*statuses).items():
                # FastAPI's own 422 promises a body it never sends here (a problem is).
                if str(status) not in responses or status == 422:
                    responses[str(status)] = entry
    return schema


def install_request_guard(app: FastAPI, limits: EdgeLimits | None = None) -> None:
    """The guard on ``app``, and its answers in ``app``'s OpenAPI document."""
    app.add_middleware(RequestGuard, limits=limits or EdgeLimits())
    build_schema: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        return document_edge_answers(build_schema())

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook for its schema
