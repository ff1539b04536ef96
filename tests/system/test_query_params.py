"""Over the four OpenAPI documents: every GET route answers a query parameter it does not
declare with 400 problem+json naming it, and a declared single-valued one given twice
too; each documents that 400. Each app in-process on SQLite, signed in, with its seeded
objects' ids in the paths."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from schemathesis.python import asgi

from .inprocess import Seeded, auth_app, notify_app, send, teams_app, work_app

UNKNOWN = "not_a_parameter"


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    try:
        yield f"sqlite+aiosqlite:///{tmp_path / 'query.db'}"
    finally:
        asgi.shutdown_lifespans()


def concrete(path: str, ids: dict[str, str]) -> str:
    """The path with each parameter a seeded id where there is one, else any uuid."""
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), str(uuid.uuid4())), path)


def check_every_get(service: str, seeded: Seeded) -> list[str]:
    app, headers, ids = seeded
    schema: dict[str, Any] = send(app, "GET", f"/openapi/{service}.json", {}).json()
    failures: list[str] = []
    gets = [(path, ops["get"]) for path, ops in schema["paths"].items() if "get" in ops]
    assert gets, service
    for path, operation in gets:
        url = concrete(path, ids)
        if "400" not in operation["responses"]:
            failures.append(f"GET {path}: 400 not documented")
        response = send(app, "GET", f"{url}?{UNKNOWN}=1", headers)
        if not _refused(response, "unknown-query-parameter", UNKNOWN):
            failures.append(f"GET {path}?{UNKNOWN}: {response.status_code} {response.text[:200]}")
        single = [
            p["name"]
            for p in operation.get("parameters", [])
            if p["in"] == "query" and not _is_array(p["schema"])
        ]
        for name in single:
            response = send(app, "GET", f"{url}?{name}=1&{name}=2", headers)
            if not _refused(response, "repeated-query-parameter", name):
                failures.append(f"GET {path}?{name}&{name}: {response.status_code}")
    return failures


def _is_array(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "array" or any(_is_array(s) for s in schema.get("anyOf", []))


def _refused(response: Any, kind: str, name: str) -> bool:
    if response.status_code != 400:
        return False
    if response.headers["content-type"] != "application/problem+json":
        return False
    problem = response.json()
    return bool(
        problem["type"].endswith(kind)
        and [error["loc"] for error in problem["errors"]] == [["query", name]]
        and f"`{name}`" in problem["detail"]
    )


APPS: dict[str, Callable[[Path, str], Seeded]] = {
    "auth": auth_app,
    "teams": teams_app,
    "work": work_app,
    "notify": notify_app,
}


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_get_route_refuses_an_unknown_or_repeated_parameter(
    service: str, tmp_path: Path, database: str
) -> None:
    seeded = APPS[service](tmp_path, database)
    assert isinstance(seeded[0], FastAPI)
    assert check_every_get(service, seeded) == []
