"""Entity tags over the four OpenAPI documents, as a client generator reads them: every
PATCH, PUT and DELETE of the API takes ``If-Match`` and documents its 412 and 428 as
problem documents; every GET of one resource takes ``If-None-Match``, documents its 304,
and its 200 names the ``ETag`` header."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from taskflow_auth.app import create_app as create_auth
from taskflow_chassis.openapi import API_PREFIX, operations
from taskflow_notify.app import create_app as create_notify
from taskflow_teams.app import create_app as create_teams
from taskflow_work.app import create_app as create_work

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
WRITES = {"patch", "put", "delete"}
# GETs that answer no stored resource of their own: the gateway's token check, the
# signing keys, and the permission catalogue (built into the code).
NOT_RESOURCES = {
    f"{API_PREFIX}/auth/verify",
    f"{API_PREFIX}/auth/jwks.json",
    f"{API_PREFIX}/permissions",
}


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TASKFLOW_DATA_DIR", str(tmp_path_factory.mktemp("etags")))
        factories: dict[str, Callable[[], FastAPI]] = {
            "auth": create_auth,
            "teams": create_teams,
            "work": create_work,
            "notify": create_notify,
        }
        yield {name: factory().openapi() for name, factory in factories.items()}


def api_operations(
    documents: dict[str, dict[str, Any]],
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for schema in documents.values():
        for path, method, operation in operations(schema):
            if path.startswith(API_PREFIX + "/"):
                yield path, method, operation


def headers_of(operation: dict[str, Any]) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p.get("in") == "header"}


def one_resource(operation: dict[str, Any]) -> bool:
    """A GET whose 200 is one object (not a page of them)."""
    content = operation["responses"].get("200", {}).get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    return bool(ref) and not ref.rsplit("/", 1)[-1].startswith("Page_")


def test_every_change_and_delete_takes_if_match_and_documents_412_and_428(
    documents: dict[str, dict[str, Any]],
) -> None:
    writes = [(p, m, o) for p, m, o in api_operations(documents) if m in WRITES]
    assert len(writes) >= 15
    missing = [f"{m.upper()} {p}" for p, m, o in writes if "If-Match" not in headers_of(o)]
    assert not missing, f"no If-Match: {missing}"
    for path, method, operation in writes:
        for status in ("412", "428"):
            answer = operation["responses"].get(status)
            assert answer and answer["content"] == PROBLEM, f"{method} {path}: {status}"


def test_every_read_of_one_resource_takes_if_none_match_and_names_its_etag(
    documents: dict[str, dict[str, Any]],
) -> None:
    reads = [
        (p, o)
        for p, m, o in api_operations(documents)
        if m == "get" and p not in NOT_RESOURCES and one_resource(o)
    ]
    assert len(reads) >= 8
    missing = [p for p, o in reads if "If-None-Match" not in headers_of(o)]
    assert not missing, f"no If-None-Match: {missing}"
    for path, operation in reads:
        assert "304" in operation["responses"], path
        assert "ETag" in operation["responses"]["200"].get("headers", {}), path
