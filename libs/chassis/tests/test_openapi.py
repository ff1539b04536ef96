"""The chassis' OpenAPI promises: ids, the bearer scheme, problem errors, local doc pages."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, status
from pydantic import BaseModel
from taskflow_chassis.openapi import (
    STATIC_PATH,
    add_docs,
    combine,
    document,
    install_openapi,
    operation_id,
    swagger_for_services,
)
from taskflow_chassis.pagination import Page
from taskflow_chassis.problems import install_problem_handlers, problem_responses
from taskflow_chassis.security import CurrentClaims, CurrentUserId, JwtVerifier


class Thing(BaseModel):
    name: str


def demo_app() -> FastAPI:
    app = FastAPI(generate_unique_id_function=operation_id)
    install_problem_handlers(app)
    router = APIRouter(prefix="/api/v1/things", tags=["things"])

    @router.post("", status_code=status.HTTP_201_CREATED)
    async def create_thing(data: Thing, user_id: CurrentUserId) -> Thing:
        return data

    @router.get("")
    async def list_things(user_id: CurrentUserId) -> Page[Thing]:
        return Page(items=[])

    @router.get("/{thing_id}", responses=problem_responses(404))
    async def read_thing(thing_id: uuid.UUID, claims: CurrentClaims) -> Thing:
        return Thing(name="x")

    @router.put("/{thing_id}/parts/{part_id}")
    async def put_part(thing_id: uuid.UUID, part_id: int, data: Thing) -> Thing:
        return data

    @router.post("/{thing_id}/parts")
    async def add_part(thing_id: uuid.UUID, data: Thing) -> Thing:
        return data

    @router.post("/{thing_id}/mark-done")
    async def done(thing_id: uuid.UUID) -> None:
        return None

    @router.get("/{thing_id}/summary.json")
    async def summary(thing_id: uuid.UUID) -> dict[str, str]:
        return {}

    @router.post("/{thing_id}/read", name="things.mark_read")
    async def read_one(thing_id: uuid.UUID) -> None:
        return None

    app.include_router(router)
    install_openapi(app)
    return app


VALIDATION_REF = "#/components/schemas/HTTPValidationError"
PROBLEM_REF = "#/components/schemas/Problem"


def ids(schema: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (method.upper(), path): operation["operationId"]
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


def test_operation_ids_name_the_resource_then_the_action() -> None:
    assert ids(demo_app().openapi()) == {
        ("POST", "/api/v1/things"): "things.create",
        ("GET", "/api/v1/things"): "things.list",
        ("GET", "/api/v1/things/{thing_id}"): "things.get",
        ("PUT", "/api/v1/things/{thing_id}/parts/{part_id}"): "things.parts.replace",
        ("POST", "/api/v1/things/{thing_id}/parts"): "things.parts.create",
        ("POST", "/api/v1/things/{thing_id}/mark-done"): "things.mark_done",
        ("GET", "/api/v1/things/{thing_id}/summary.json"): "things.summary.get",
        ("POST", "/api/v1/things/{thing_id}/read"): "things.mark_read",
    }


def test_token_routes_declare_the_bearer_scheme_and_document_their_401() -> None:
    schema = demo_app().openapi()
    scheme = schema["components"]["securitySchemes"]["bearer"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert scheme["bearerFormat"] == "JWT"
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            protected = path in {"/api/v1/things", "/api/v1/things/{thing_id}"}
            assert (operation.get("security") == [{"bearer": []}]) == protected, (method, path)
            if protected:
                problem = operation["responses"]["401"]["content"]["application/problem+json"]
                assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_fastapis_validation_schemas_give_way_to_the_problem() -> None:
    schema = demo_app().openapi()
    schemas = schema["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    for item in schema["paths"].values():
        for operation in item.values():
            for code, response in operation["responses"].items():
                if code >= "400":
                    assert response["content"] == {
                        "application/problem+json": {"schema": {"$ref": PROBLEM_REF}}
                    }
    assert schemas["Problem"]["required"] == ["type", "title", "status"]
    [example] = schemas["Problem"]["examples"]
    assert example["status"] == 422 and example["errors"][0]["field"] == "name"
    assert schemas["Page_Thing_"]["examples"] == [{"items": [], "next_cursor": None}]
    # Where a route still points at FastAPI's, it stays, and so does what it points at.
    referenced = document(
        {
            "paths": {"/x": {"post": {"requestBody": {"$ref": VALIDATION_REF}}}},
            "components": {
                "schemas": {
                    "HTTPValidationError": {"$ref": "#/components/schemas/ValidationError"},
                    "ValidationError": {"type": "object"},
                }
            },
        }
    )
    assert {"HTTPValidationError", "ValidationError"} <= set(referenced["components"]["schemas"])


async def no_keys() -> dict[str, Any]:
    return {"keys": []}


async def test_the_bearer_scheme_leaves_the_401s_as_they_were() -> None:
    app = demo_app()
    app.state.jwt_verifier = JwtVerifier(no_keys, issuer="taskflow-auth", audience="taskflow")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        for headers, challenge in (
            ({}, "Bearer"),
            ({"Authorization": "Basic abc"}, "Bearer"),
            ({"Authorization": "Bearer"}, "Bearer"),
            ({"Authorization": "Bearer " + "a" * 9000}, "Bearer"),
            ({"Authorization": "Bearer garbage"}, 'Bearer error="invalid_token"'),
        ):
            answer = await client.get("/api/v1/things", headers=headers)
            assert answer.status_code == 401, headers
            assert answer.headers["www-authenticate"] == challenge
            assert answer.headers["content-type"] == "application/problem+json"
            body = answer.json()
            assert body["type"] == "/problems/unauthenticated"
            assert body["title"] in {"Not authenticated", "Invalid token"}


def test_combine_merges_services_and_refuses_to_pick_between_two_definitions() -> None:
    one: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "one", "version": "1"},
        "paths": {"/api/v1/a": {"get": {"operationId": "a.list"}}, "/healthz": {}},
        "components": {"schemas": {"Problem": {"type": "object"}, "A": {}}},
    }
    two: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "two", "version": "1"},
        "paths": {"/api/v1/b": {"get": {"operationId": "b.list"}}, "/healthz": {}},
        "components": {"schemas": {"Problem": {"type": "object"}, "B": {}}},
    }
    combined = combine([one, two])
    assert set(combined["paths"]) == {"/api/v1/a", "/api/v1/b"}
    assert set(combined["components"]["schemas"]) == {"Problem", "A", "B"}
    two["components"]["schemas"]["A"] = {"type": "string"}
    with pytest.raises(ValueError, match="'A'"):
        combine([one, two])


async def test_doc_pages_load_only_this_processs_files() -> None:
    app = FastAPI(docs_url=None, redoc_url=None)
    add_docs(app, "things", "Things", ["things", "others"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        for page in ("/docs", "/docs/things", "/docs/things/redoc"):
            html = (await client.get(page)).text
            assets = re.findall(r'(?:src|href)="([^"]+)"', html)
            assert assets and all(a.startswith(STATIC_PATH + "/") for a in assets), (page, assets)
            assert "http" not in html.replace("http-equiv", "")
            for asset in assets:
                answer = await client.get(asset)
                assert answer.status_code == 200 and len(answer.content) > 1000, asset
    combined = bytes(swagger_for_services(["things", "others"]).body).decode()
    assert "/openapi/things.json" in combined and "/openapi/others.json" in combined
    assert '"persistAuthorization": true' in combined
