"""The OpenAPI document every service serves, and the pages that show it.

One scheme for all four services, so that a client generated from their combined
document reads the same everywhere:

- every operation's id is ``<resource>.<action>`` (``operation_id``), unique across the
  services: ``tasks.list``, ``projects.tasks.create``, ``teams.members.update``,
  ``auth.jwt.create``;
- a route that needs an access token carries the ``bearer`` security requirement
  (``security.BEARER_SCHEME``, declared by the token dependencies) and documents its 401;
- every error is documented as ``application/problem+json`` with the ``Problem`` schema;
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

from taskflow_chassis.etags import document_preconditions
from taskflow_chassis.pagination import Page
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
    "type": "https://taskflow.dev/problems/validation",
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
        "type": {"type": "string"},
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
    for name, component in schemas.items():
        if name.startswith("Page_") and isinstance(component, dict):
            component.setdefault("description", PAGE_EXAMPLE_NOTE)
            component.setdefault("examples", [{"items": [], "next_cursor": None}])
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
