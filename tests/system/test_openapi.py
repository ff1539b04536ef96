"""The four services' OpenAPI documents, read together as a client generator reads them.

Every operation has a ``<resource>.<action>`` id, unique across the services; the
operations behind the gateway's token check (forwardAuth) carry the bearer security
requirement and the public ones none; every error is a problem document; every request
body and every answer shows an example that its schema and its pydantic model accept; and
the doc pages load their files from TaskFlow itself, routed by the gateway and the
embedded runtime alike.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import taskflow_auth
import taskflow_notify
import taskflow_teams
import taskflow_work
from fastapi import FastAPI
from jsonschema import Draft202012Validator
from pydantic import BaseModel
from taskflow_auth.app import create_app as create_auth
from taskflow_chassis.openapi import EXAMPLE_CURSOR, SCHEMA_REF, STATIC_PATH, combine, operations
from taskflow_chassis.testing import app_running
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
PACKAGES = (taskflow_auth, taskflow_teams, taskflow_work, taskflow_notify)
# Fewer would mean examples went missing: the documents show 93 JSON request bodies and
# answers and 60 models in them, and the services hold 56 models with examples.
MIN_DOCUMENTED_BODIES = 85
MIN_COMPONENTS_WITH_EXAMPLES = 55
MIN_MODELS_WITH_EXAMPLES = 50


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
        app_running(dispatcher),
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


# --- examples ---------------------------------------------------------------------------


def _is_json(media_type: str) -> bool:
    # An event stream's schema describes its lines, not one document an example could be.
    return media_type == "application/json" or media_type.endswith("+json")


def _bodies(operation: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The operation's JSON request body and its JSON 2xx answers, each with its schema."""
    request = operation.get("requestBody", {}).get("content", {})
    for media_type, media in request.items():
        if _is_json(media_type):
            yield f"request {media_type}", media
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            for media_type, media in response.get("content", {}).items():
                if _is_json(media_type) and "schema" in media:
                    yield f"{status} {media_type}", media


def _component(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    assert ref.startswith(SCHEMA_REF), ref
    component: dict[str, Any] = document["components"]["schemas"][ref.removeprefix(SCHEMA_REF)]
    return component


def _examples(media: dict[str, Any], schema: dict[str, Any]) -> list[Any]:
    """The examples a reader of the document sees: on the media type (``example``, or
    ``examples`` by name) or on the schema it refers to (``examples``, or ``example``)."""
    found = [media["example"]] if "example" in media else []
    found += [named["value"] for named in media.get("examples", {}).values()]
    found += schema.get("examples", [])
    found += [schema["example"]] if "example" in schema else []
    return found


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "$ref" and isinstance(inner, str):
                yield inner.removeprefix(SCHEMA_REF)
            else:
                yield from _refs(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _refs(inner)


def _reachable(document: dict[str, Any], schema: dict[str, Any]) -> set[str]:
    """Every component ``schema`` refers to, and every one those refer to."""
    schemas = document["components"]["schemas"]
    seen: set[str] = set()
    todo = list(_refs(schema))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _refs(schemas[name])
    return seen


def _validator(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema 2020-12 validator (OpenAPI 3.1's dialect) for ``schema``, its
    ``#/components/...`` references resolved in ``document``, formats (uuid, date, email)
    checked."""
    root = {**schema, "components": document["components"]}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_every_body_and_answer_shows_an_example_its_schema_accepts(
    documents: dict[str, dict[str, Any]],
) -> None:
    checked = 0
    components: dict[str, set[str]] = {service: set() for service in documents}
    for service, path, method, operation in every_operation(documents):
        document = documents[service]
        for what, media in _bodies(operation):
            where = (service, method.upper(), path, what)
            examples = _examples(media, _component(document, media["schema"]))
            assert examples, f"no example: {where}"
            for example in examples:
                errors = [
                    e.message for e in _validator(document, media["schema"]).iter_errors(example)
                ]
                assert not errors, (where, errors)
            checked += 1
            components[service] |= _reachable(document, media["schema"])
    assert checked >= MIN_DOCUMENTED_BODIES, checked
    # Every model a body or an answer holds (a member's PersonRef, a page's items) shows
    # one too; an enumeration lists its values instead.
    shown = 0
    for service, names in components.items():
        document = documents[service]
        for name in sorted(names):
            schema = document["components"]["schemas"][name]
            if "enum" in schema:
                continue
            examples = _examples({}, schema)
            assert examples, f"no example: {service} {name}"
            for example in examples:
                errors = [e.message for e in _validator(document, schema).iter_errors(example)]
                assert not errors, (service, name, errors)
            shown += 1
    assert shown >= MIN_COMPONENTS_WITH_EXAMPLES, shown


def test_a_page_shows_one_item_and_examples_keep_their_nulls(documents: dict[str, Any]) -> None:
    pages = 0
    for service, document in documents.items():
        schemas = document["components"]["schemas"]
        for name, schema in schemas.items():
            if not name.startswith("Page_"):
                continue
            item = schema["properties"]["items"]["items"]["$ref"].removeprefix(SCHEMA_REF)
            assert schema["examples"] == [
                {"items": [schemas[item]["examples"][0]], "next_cursor": EXAMPLE_CURSOR}
            ], (service, name)
            pages += 1
    assert pages >= 9
    # An answer's fields that may be null show their null (FastAPI drops it; the chassis
    # puts it back).
    [invitation] = documents["teams"]["components"]["schemas"]["InvitationRead"]["examples"]
    assert invitation["responded_at"] is None
    [notification] = documents["notify"]["components"]["schemas"]["NotificationRead"]["examples"]
    assert notification["read_at"] is None
    # One person is shown alike in every service, so the combined document has one PersonRef.
    person = combine([documents[name] for name in SERVICES])["components"]["schemas"]["PersonRef"]
    assert person["examples"][0]["display_name"] == "Ada Lovelace"


def _modules(package: ModuleType) -> Iterator[ModuleType]:
    yield package
    for found in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not found.name.endswith(".__main__"):
            yield importlib.import_module(found.name)


def _models_with_examples() -> Iterator[tuple[type[BaseModel], list[Any]]]:
    """Every pydantic model of the four services with examples on the model, each once."""
    for package in PACKAGES:
        for module in _modules(package):
            for model in vars(module).values():
                if (
                    isinstance(model, type)
                    and issubclass(model, BaseModel)
                    and model.__module__ == module.__name__
                ):
                    extra = model.model_config.get("json_schema_extra")
                    examples = extra.get("examples") if isinstance(extra, dict) else None
                    if examples:
                        assert isinstance(examples, list), model
                        yield model, examples


def test_every_model_accepts_its_own_examples() -> None:
    models = 0
    for model, examples in _models_with_examples():
        models += 1
        for example in examples:
            assert isinstance(example, dict), model
            # Input models forbid unknown fields; an answer's example names only its fields too.
            assert set(example) <= set(model.model_fields), (model, set(example))
            parsed = model.model_validate(example)
            # What the API would answer for it is the example itself.
            assert parsed.model_dump(mode="json", exclude_unset=True) == example, model
            for field_name, field in model.model_fields.items():
                for value in field.examples or []:
                    model.model_validate({**example, field_name: value})
    assert models >= MIN_MODELS_WITH_EXAMPLES, models
