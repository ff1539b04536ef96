"""The four services' OpenAPI documents, read together as a client generator reads them.

Every operation has a ``<resource>.<action>`` id, unique across the services; the
operations behind the gateway's token check (forwardAuth) carry the bearer security
requirement and the public ones none; every error is a problem document; and the doc
pages load their files from TaskFlow itself, routed by the gateway and the embedded
runtime alike.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from taskflow_auth.app import create_app as create_auth
from taskflow_chassis.openapi import STATIC_PATH, combine, operations
from taskflow_embedded.gateway import load, route
from taskflow_embedded.main import Dispatcher
from taskflow_notify.app import create_app as create_notify
from taskflow_teams.app import create_app as create_teams
from taskflow_work.app import create_app as create_work

SERVICES = ("auth", "teams", "work", "notify")
OPERATION_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
# The chassis' own probes: in every service's document, the same; not behind the gateway.
PROBES = {"/healthz", "/readyz"}


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TASKFLOW_DATA_DIR", str(tmp_path_factory.mktemp("openapi")))
        factories: dict[str, Callable[[], FastAPI]] = {
            "auth": create_auth,
            "teams": create_teams,
            "work": create_work,
            "notify": create_notify,
        }
        yield {name: factory().openapi() for name, factory in factories.items()}


def every_operation(
    documents: dict[str, dict[str, Any]],
) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for service, schema in documents.items():
        for path, method, operation in operations(schema):
            yield service, path, method, operation


def test_every_operation_has_a_resource_action_id(documents: dict[str, Any]) -> None:
    found = 0
    for service, path, method, operation in every_operation(documents):
        found += 1
        assert OPERATION_ID.match(operation.get("operationId", "")), (service, method, path)
    assert found >= 60


def test_operation_ids_are_unique_across_the_services(documents: dict[str, Any]) -> None:
    owner: dict[str, tuple[str, str, str]] = {}
    for service, path, method, operation in every_operation(documents):
        earlier = owner.setdefault(operation["operationId"], (service, path, method))
        # Only the chassis' probes are in two documents, at the same place.
        same_probe = earlier[1:] == (path, method) and path in PROBES
        assert earlier == (service, path, method) or same_probe, (
            operation["operationId"],
            earlier,
            (service, path, method),
        )
    for example in ("tasks.list", "projects.tasks.create", "teams.members.update"):
        assert example in owner
    assert owner["auth.jwt.create"] == ("auth", "/api/v1/auth/jwt/create", "post")
    combined = combine([documents[name] for name in SERVICES])
    ids = [operation["operationId"] for _, _, operation in operations(combined)]
    assert len(ids) == len(set(ids))


def test_protected_operations_carry_the_bearer_scheme_and_public_ones_none(
    documents: dict[str, Any],
) -> None:
    config = load()
    public = set()
    for service, path, method, operation in every_operation(documents):
        scheme = documents[service]["components"].get("securitySchemes", {}).get("bearer")
        if path in PROBES:
            assert "security" not in operation, (service, path)
            continue
        router = route(method.upper(), re.sub(r"\{[^}]+\}", "x", path), config)
        assert router is not None, (method, path)
        protected = "verify-token" in router.middlewares
        where = (service, method.upper(), path)
        if protected:
            assert operation.get("security") == [{"bearer": []}], where
            assert scheme == {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": scheme["description"],
            }
            assert operation["responses"]["401"]["content"] == PROBLEM, where
        else:
            assert "security" not in operation, where
            public.add((method.upper(), path))
    assert public == {
        ("POST", "/api/v1/auth/users"), ("POST", "/api/v1/auth/jwt/create"),
        ("POST", "/api/v1/auth/jwt/refresh"), ("POST", "/api/v1/auth/jwt/verify"),
        ("POST", "/api/v1/auth/users/reset_password"),
        ("POST", "/api/v1/auth/users/reset_password_confirm"),
        ("GET", "/api/v1/auth/jwks.json"), ("GET", "/api/v1/auth/verify"),
        ("POST", "/api/v1/auth/users/verify_email"),
    }  # fmt: skip


def test_every_error_is_documented_as_a_problem(documents: dict[str, Any]) -> None:
    for service, path, method, operation in every_operation(documents):
        for status, response in operation["responses"].items():
            if status == "default" or status[0] in "45":
                assert response.get("content") == PROBLEM, (service, method, path, status)
    for service, schema in documents.items():
        schemas = schema["components"]["schemas"]
        assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas, service
        assert schemas["Problem"]["examples"], service


def test_the_gateway_routes_the_doc_pages_files_without_a_token() -> None:
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        router = route("GET", f"{STATIC_PATH}/{asset}")
        assert router is not None and router.name == "docs-static", asset
        assert "verify-token" not in router.middlewares
    combined = route("GET", "/docs")
    assert combined is not None and combined.name == "docs"
    for service in SERVICES:
        for page in (f"/docs/{service}", f"/docs/{service}/redoc"):
            router = route("GET", page)
            assert router is not None, page
            assert router.name == ("docs" if service == "auth" else f"docs-{service}"), page
            assert "verify-token" not in router.middlewares


async def test_doc_pages_load_only_local_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TASKFLOW_EVENT_BUS_URL", f"memory://docs-{tmp_path.name}")
    dispatcher = Dispatcher()
    async with (
        LifespanManager(dispatcher),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=dispatcher), base_url="http://127.0.0.1:8000"
        ) as client,
    ):
        pages = ["/docs", *(f"/docs/{name}" for name in SERVICES)]
        pages += [f"/docs/{name}/redoc" for name in SERVICES]
        loaded: set[str] = set()
        for page in pages:
            answer = await client.get(page)
            assert answer.status_code == 200, page
            assets = re.findall(r'(?:src|href)="([^"]+)"', answer.text)
            assert assets, page
            for asset in assets:
                assert asset.startswith(STATIC_PATH + "/"), (page, asset)
            assert not re.search(r"https?://|//cdn", answer.text), page
            loaded |= set(assets)
        for asset in loaded:
            answer = await client.get(asset)
            assert answer.status_code == 200 and answer.content, asset
        for name in SERVICES:
            assert f"/openapi/{name}.json" in (await client.get("/docs")).text
