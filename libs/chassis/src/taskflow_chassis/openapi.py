"""The OpenAPI document every service serves, and the pages that show it.

One scheme for all four services, so that a client generated from their combined
document reads the same everywhere:

- every operation's id is ``<resource>.<action>`` (``operation_id``), unique across the
  services: ``tasks.list``, ``projects.tasks.create``, ``teams.members.update``,
  ``auth.jwt.create``;
- a route that needs an access token carries the ``bearer`` security requirement
  (``security.BEARER_SCHEME``, declared by the token dependencies) and documents its 401;
- every error is documented as ``application/problem+json`` with the ``Problem`` schema;
- every API model shows an example (``EXAMPLE_*`` below for what several services show),
  kept whole here (FastAPI drops an example's nulls), and a page shows one item;
- Swagger UI and ReDoc come from this process (``STATIC_PATH``), never from a CDN.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.dependencies.utils import get_typed_return_annotation
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic.config import JsonDict

from taskflow_chassis.etags import document_preconditions
from taskflow_chassis.pagination import Page, encode_cursor, list_scope
from taskflow_chassis.problems import PROBLEM_MEDIA_TYPE, problem_responses

API_PREFIX = "/api/v1"
# Swagger UI's and ReDoc's files, from the fastapi-offline package (MIT; Swagger UI is
# Apache-2.0, ReDoc MIT), served by every service and routed to one by the gateway.
STATIC_PATH = "/docs/static"
STATIC_DIR = Path(fastapi_offline.__file__).parent / "static"
SWAGGER_JS = f"{STATIC_PATH}/swagger-ui-bundle.js"
SWAGGER_CSS = f"{STATIC_PATH}/swagger-ui.css"
REDOC_JS = f"{STATIC_PATH}/redoc.standalone.js"
FAVICON = f"{STATIC_PATH}/favicon.png"

# What a method does to the item a path ends on (``/tasks/{task_id}``) or to a named
# sub-resource (``/users/me``, ``/notifications/preferences``).
ITEM_ACTIONS = {"GET": "get", "PUT": "replace", "PATCH": "update", "DELETE": "delete"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# FastAPI's own validation schemas: a problem document is answered instead.
FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
SCHEMA_REF = "#/components/schemas/"
PROBLEM_REF = SCHEMA_REF + "Problem"

PROBLEM_EXAMPLE = {
    "type": "/problems/validation",
    "title": "Validation failed",
    "status": 422,
    "detail": "One or more fields are invalid; see errors.",
    "instance": "/api/v1/teams",
    "correlation_id": "3f2c9a7e5b1d4c08",
    "errors": [
        {
            "loc": ["body", "name"],
            "field": "name",
            "type": "string_too_short",
            "msg": "String should have at least 1 character",
        }
    ],
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details: every error of every service.",
    "properties": {
        "type": {
            "type": "string",
            "format": "uri-reference",
            "description": "/problems/<slug>, relative to the address asked: compare the "
            "slug; the page at that address (the web app) says what it means and what to do.",
        },
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "correlation_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {}},
                    "field": {"type": "string"},
                    "type": {"type": "string"},
                    "msg": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status"],
    "examples": [PROBLEM_EXAMPLE],
}

# The values the services' API models show in their examples where one thing appears in
# several services (a person, a team, a task): written once, so the documents agree with
# one another and the combined one merges (each service's PersonRef shows the same person).
EXAMPLE_USER_ID = "5f0c6a3e-8d2b-4c71-9a4e-2b7d1e6f3c90"
EXAMPLE_OTHER_USER_ID = "c41d7e02-93ab-4f6e-8b15-7a0e2d9c6f38"
EXAMPLE_TEAM_ID = "2a9d4c1e-7b3f-4e60-a8d2-5c1f0b9e7a34"
EXAMPLE_ROLE_ID = "8e3b5f17-0c4a-4d92-b6e1-f7a2c9d05b48"
EXAMPLE_PROJECT_ID = "41f7c2d9-5e8a-4b03-9c6d-0a2e8f1b7c55"
EXAMPLE_TASK_ID = "9b6e0d3a-2f71-4c58-8e49-d3c7a1f06e22"
EXAMPLE_CREATED_AT = "2026-11-30T09:30:00Z"
EXAMPLE_UPDATED_AT = "2026-11-30T14:05:12Z"
EXAMPLE_DUE_AT = "2026-12-04T17:00:00Z"
# The signed-in person, and a colleague of theirs, as every answer names a person.
EXAMPLE_PERSON: JsonDict = {
    "id": EXAMPLE_USER_ID,
    "username": "ada",
    "display_name": "Ada Lovelace",
}
EXAMPLE_OTHER_PERSON: JsonDict = {
    "id": EXAMPLE_OTHER_USER_ID,
    "username": "grace",
    "display_name": "Grace Hopper",
}
# A next page's cursor as the task list issues it (opaque to a client).
EXAMPLE_CURSOR = encode_cursor(
    list_scope(f"{API_PREFIX}/tasks", []), EXAMPLE_CREATED_AT, EXAMPLE_TASK_ID
)

PAGE_EXAMPLE_NOTE = (
    "One page of a list, oldest or best first as the list says; pass `next_cursor` back "
    "as `cursor` for the next page (null: this was the last)."
)


def _word(segment: str) -> str:
    """A path segment as part of an id: ``read-all`` → ``read_all``, ``jwks.json`` → ``jwks``."""
    return segment.split(".")[0].replace("-", "_").lower()


def _returns_page(route: APIRoute) -> bool:
    # Asked before FastAPI sets ``response_model``: the endpoint's return annotation.
    model = get_typed_return_annotation(route.endpoint)
    return isinstance(model, type) and issubclass(model, Page)


def _action(method: str, route: APIRoute, literals: list[str], ends_on_item: bool) -> str:
    if ends_on_item:
        return "create" if method == "POST" else ITEM_ACTIONS.get(method, method.lower())
    if method == "GET":
        return "list" if _returns_page(route) else "get"
    if method != "POST":
        return ITEM_ACTIONS.get(method, method.lower())
    # POST to a collection (a plural: /teams, /tasks/{id}/assignees) creates in it;
    # any other last word is the action itself (/jwt/create, /invitations/accept).
    return "create" if literals[-1].endswith("s") else ""


def operation_id(route: APIRoute) -> str:
    """``<resource>.<action>`` from the route's path and method; a route named with a dot
    (``name="notifications.mark_read"``) is taken at its word."""
    if "." in route.name:
        return route.name
    path = route.path_format.removeprefix(API_PREFIX)
    segments = [s for s in path.split("/") if s]
    literals = [_word(s) for s in segments if not s.startswith("{")]
    ends_on_item = bool(segments) and segments[-1].startswith("{")
    method = min(route.methods or {"GET"})
    action = _action(method, route, literals, ends_on_item)
    return ".".join([*literals, action] if action else literals)


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Each operation of a document: its path, method and object."""
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS and isinstance(operation, dict):
                yield path, method, operation


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "$ref" and isinstance(inner, str):
                yield inner
            else:
                yield from _references(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _references(inner)


def _is_error(status: str) -> bool:
    return status == "default" or status[:1] in {"4", "5"}


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """The chassis' promises written into a service's generated document."""
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    _restore_example_nulls(schemas)
    for name, component in schemas.items():
        if name.startswith("Page_") and isinstance(component, dict):
            component.setdefault("description", PAGE_EXAMPLE_NOTE)
            component.setdefault("examples", [_page_example(schemas, component)])
    for _, _, operation in operations(schema):
        document_preconditions(operation)
        responses = operation.setdefault("responses", {})
        if operation.get("security"):
            responses.setdefault("401", problem_responses(401)[401])
        # Any route answers 503 while its database does not (problems.py; /readyz says so).
        responses.setdefault("503", problem_responses(503)[503])
        for status, response in responses.items():
            if _is_error(status) and isinstance(response, dict) and "$ref" not in response:
                # Every error handler of the chassis answers a problem, whatever a route said.
                response["content"] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
    _drop_fastapis_validation_schemas(schema)
    return schema


def _restore_example_nulls(schemas: dict[str, Any]) -> None:
    """FastAPI drops every null from the document it builds, the examples' included
    (fastapi#5559): a required field that may be null is put back, as null, in every
    example of a component, so each example still fits its schema."""
    for component in schemas.values():
        if isinstance(component, dict):
            for example in component.get("examples", []):
                _put_back_nulls(schemas, component, example)


def _resolved(schemas: dict[str, Any], schema: Any) -> dict[str, Any]:
    if not isinstance(schema, dict):
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(SCHEMA_REF):
        return _resolved(schemas, schemas.get(ref.removeprefix(SCHEMA_REF)))
    return schema


def _admits_null(schemas: dict[str, Any], schema: Any) -> bool:
    resolved = _resolved(schemas, schema)
    kind = resolved.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_admits_null(schemas, branch) for branch in resolved.get("anyOf", []))


def _put_back_nulls(schemas: dict[str, Any], schema: Any, value: Any) -> None:
    """The nulls ``value`` lost, put back where ``schema`` requires a field and admits
    null; the same for what it holds (following ``$ref``, items and ``anyOf``)."""
    resolved = _resolved(schemas, schema)
    if isinstance(value, dict):
        properties = resolved.get("properties", {})
        for name in resolved.get("required", []):
            if name not in value and _admits_null(schemas, properties.get(name)):
                value[name] = None
        for name, inner in value.items():
            if name in properties:
                _put_back_nulls(schemas, properties[name], inner)
    elif isinstance(value, list):
        for inner in value:
            _put_back_nulls(schemas, resolved.get("items"), inner)
    for branch in resolved.get("anyOf", []):
        _put_back_nulls(schemas, branch, value)


def _page_example(schemas: dict[str, Any], page: dict[str, Any]) -> dict[str, Any]:
    """A page of one item, the item model's own first example, with a cursor to the next;
    an empty last page where the item model shows none."""
    item_ref = page.get("properties", {}).get("items", {}).get("items", {}).get("$ref", "")
    item = (
        schemas.get(item_ref.removeprefix(SCHEMA_REF)) if item_ref.startswith(SCHEMA_REF) else None
    )
    examples = item.get("examples") if isinstance(item, dict) else None
    if not examples:
        return {"items": [], "next_cursor": None}
    return {"items": [copy.deepcopy(examples[0])], "next_cursor": EXAMPLE_CURSOR}


def _drop_fastapis_validation_schemas(schema: dict[str, Any]) -> None:
    """FastAPI lists its 422 body even where every 422 is documented as a problem; a
    generated client would carry a model no answer has. Dropped unless something uses it."""
    schemas = schema["components"]["schemas"]
    outside = {k: v for k, v in schemas.items() if k not in FASTAPI_VALIDATION_SCHEMAS}
    used = set(_references({k: v for k, v in schema.items() if k != "components"}))
    used |= set(_references(outside))
    if f"{SCHEMA_REF}HTTPValidationError" in used:
        return
    schemas.pop("HTTPValidationError", None)
    if f"{SCHEMA_REF}ValidationError" not in used:
        schemas.pop("ValidationError", None)


def install_openapi(app: FastAPI) -> None:
    """``document`` applied to the app's generated schema, once (it is cached)."""
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        app.openapi_schema = document(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented hook for its schema


def combine(documents: Sequence[dict[str, Any]], *, title: str = "TaskFlow API") -> dict[str, Any]:
    """The services' documents as one, for a client of the gateway: their ``/api/v1``
    operations (each service's probes stay in its own) and their components. Two services
    defining one path or one component differently is an error, never a silent pick."""
    combined: dict[str, Any] = {
        "openapi": documents[0]["openapi"],
        "info": {"title": title, "version": documents[0]["info"]["version"]},
        "paths": {},
        "components": {},
    }
    for source in documents:
        for path, item in source.get("paths", {}).items():
            if path.startswith(API_PREFIX + "/"):
                _merge(combined["paths"], path, item, "path")
        for kind, entries in source.get("components", {}).items():
            merged = combined["components"].setdefault(kind, {})
            for name, entry in entries.items():
                _merge(merged, name, entry, kind)
    return combined


def _merge(into: dict[str, Any], key: str, value: Any, kind: str) -> None:
    if key in into and into[key] != value:
        raise ValueError(f"two services define the {kind} {key!r} differently")
    into[key] = value


# --- the pages ------------------------------------------------------------------------


def _swagger_page(title: str, urls: Sequence[tuple[str, str]]) -> HTMLResponse:
    """Swagger UI on this process's files; with several documents, a picker above it.
    The token given to Authorize is kept across documents and reloads."""
    config = {
        "url": urls[0][1],
        "dom_id": "#swagger-ui",
        "layout": "BaseLayout",
        "deepLinking": True,
        "persistAuthorization": True,
        "displayOperationId": True,
        "showExtensions": True,
    }
    options = "".join(f'<option value="{url}">{name}</option>' for name, url in urls)
    picker = (
        f'<label style="font-family:sans-serif;margin:1em">Service <select id="service">'
        f"{options}</select></label>"
        if len(urls) > 1
        else ""
    )
    html = f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{title}</title>
<link type="text/css" rel="stylesheet" href="{SWAGGER_CSS}">
<link rel="icon" href="{FAVICON}">
</head>
<body>
{picker}
<div id="swagger-ui"></div>
<script src="{SWAGGER_JS}"></script>
<script>
const config = {json.dumps(config)};
config.presets = [SwaggerUIBundle.presets.apis];
const ui = SwaggerUIBundle(config);
const picker = document.getElementById("service");
if (picker) {{
  picker.addEventListener("change", () => {{
    ui.specActions.updateUrl(picker.value);
    ui.specActions.download(picker.value);
  }});
}}
</script>
</body>
</html>"""
    return HTMLResponse(html)


def swagger_page(name: str, title: str) -> HTMLResponse:
    return _swagger_page(title, [(name, f"/openapi/{name}.json")])


def swagger_for_services(services: Sequence[str]) -> HTMLResponse:
    """Every service's document in one Swagger UI (the gateway routes /docs to one)."""
    return _swagger_page("TaskFlow API", [(name, f"/openapi/{name}.json") for name in services])


def redoc_page(name: str, title: str) -> HTMLResponse:
    html = f"""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="icon" href="{FAVICON}">
</head>
<body>
<redoc spec-url="/openapi/{name}.json"></redoc>
<script src="{REDOC_JS}"></script>
</body>
</html>"""
    return HTMLResponse(html)


def add_docs(app: FastAPI, name: str, title: str, services: Sequence[str]) -> None:
    """``/docs/<name>`` (Swagger UI), ``/docs/<name>/redoc``, ``/docs`` (every service) and
    the pages' files under ``STATIC_PATH``."""
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="docs-static")

    @app.get(f"/docs/{name}", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return swagger_page(name, title)

    @app.get(f"/docs/{name}/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return redoc_page(name, title)

    @app.get("/docs", include_in_schema=False)
    async def all_docs() -> HTMLResponse:
        return swagger_for_services(services)
