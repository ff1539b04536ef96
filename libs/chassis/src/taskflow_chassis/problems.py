"""RFC 9457 problem details for every error a service answers.

HTTP errors, validation errors (with field locations) and unexpected errors all
leave as ``application/problem+json``; an unexpected error is logged with its
traceback and answered 500 with nothing of its internals.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from taskflow_contracts.problems import PROBLEM_TYPE_PATH

from taskflow_chassis.logs import correlation_id as correlation_id_var
from taskflow_chassis.logs import current_correlation_id

logger = logging.getLogger("taskflow.problems")

PROBLEM_MEDIA_TYPE = "application/problem+json"
# A problem's type is /problems/<slug>, relative to the address the request went to: the
# same on every deployment, and a page there (web serves the catalogue) says what it means.
PROBLEM_TYPE_BASE = PROBLEM_TYPE_PATH


class ProblemError(Exception):
    """Raise anywhere in a request to answer a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        type: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        whole = ":" in type or type.startswith("/")  # about:blank, or already a reference
        self.type = type if whole else PROBLEM_TYPE_BASE + type
        self.headers = headers or {}
        self.extensions = extensions


def invalid_field(field: str, title: str, detail: str, *, type: str) -> ProblemError:
    """A 422 about one body field that passed schema validation but not a domain rule."""
    return ProblemError(
        422,
        title,
        detail,
        type=type,
        errors=[{"loc": ["body", field], "field": field, "type": type, "msg": detail}],
    )


def not_found(what: str, detail: str | None = None) -> ProblemError:
    """404 for an object the caller may not learn of (absent, or in a team they are not in)."""
    slug = what.lower().replace(" ", "-")
    return ProblemError(
        404,
        f"{what} not found",
        detail or f"No {what.lower()} with this id is visible to you.",
        type=f"{slug}-not-found",
    )


def forbidden(permission: str) -> ProblemError:
    """403 for a member whose role lacks a permission of the catalogue."""
    return ProblemError(
        403,
        "Permission required",
        f"Your role in this team does not grant {permission}.",
        type="permission-required",
        permission=permission,
    )


def conflict(
    title: str,
    detail: str,
    *,
    type: str,
    field: str,
    loc: list[str | int] | None = None,
    **extensions: Any,
) -> ProblemError:
    """409: the request contradicts the current state (a duplicate, a stale change).

    Shaped as a 422 is: ``errors`` names the ``field`` in conflict (at ``loc``, by default
    ``["body", field]``; ``["path", "role_id"]`` for the object a path names). ``field`` is
    also kept at the top level, where clients of the first 409s read it.
    """
    error = {"loc": loc or ["body", field], "field": field, "type": type, "msg": detail}
    return ProblemError(409, title, detail, type=type, field=field, errors=[error], **extensions)


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem_response(
    status: int,
    title: str | None = None,
    detail: str | None = None,
    *,
    type: str = "about:blank",
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    correlation_id: str | None = None,
    **extensions: Any,
) -> ProblemResponse:
    body: dict[str, Any] = {
        "type": type,
        "title": title or _phrase(status),
        "status": status,
    }
    # Every problem has a detail, also one a framework raised with none (404, 405, ...).
    body["detail"] = detail or _default_detail(status)
    if instance:
        body["instance"] = instance
    cid = correlation_id or current_correlation_id()
    if cid:
        body["correlation_id"] = cid
    body.update(extensions)
    return ProblemResponse(body, status_code=status, headers=headers)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _default_detail(status: int) -> str:
    return f"The request failed: {_phrase(status).lower()}."


def _location(loc: tuple[Any, ...] | list[Any]) -> list[str | int]:
    return [part if isinstance(part, int) else str(part) for part in loc]


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for error in exc.errors():
        loc = _location(error.get("loc", ()))
        errors.append(
            {
                "loc": loc,
                # The field name a client fixes: the last non-index part of the location.
                "field": next((p for p in reversed(loc) if isinstance(p, str)), None),
                "type": error.get("type", "value_error"),
                "msg": error.get("msg", "Invalid value"),
            }
        )
    return errors


async def _problem_error_handler(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        exc.title,
        exc.detail,
        type=exc.type,
        instance=request.url.path,
        headers=exc.headers,
        **exc.extensions,
    )


def _framework_detail(request: Request, status: int, headers: dict[str, str]) -> str | None:
    """What an unknown path or method means, for the 404 and 405 the router raises bare."""
    if status == 404:
        if "endpoint" in request.scope:  # a route answered 404 without saying what
            return f"Nothing found at {request.url.path}."
        return f"No route for {request.url.path}."
    if status == 405:
        allowed = _allowed_methods(request)
        if allowed:
            # Starlette names the methods of the first route of the path only.
            for name in [name for name in headers if name.lower() == "allow"]:
                del headers[name]
            headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed on {request.url.path}."
        return f"{detail} Allowed: {', '.join(allowed)}." if allowed else detail
    return None


_METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on the request's path (asked of the
    routes themselves: an included router matches fully only a method it serves)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]


async def _http_exception_handler(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    title = _phrase(exc.status_code)
    detail: str | None = exc.detail if isinstance(exc.detail, str) else None
    if not detail or detail == title:
        detail = _framework_detail(request, exc.status_code, headers)
    return problem_response(
        exc.status_code,
        title,
        detail,
        instance=request.url.path,
        headers=headers,
    )


async def _validation_handler(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _validation_errors(exc)
    body_invalid = any(e["type"] == "json_invalid" for e in errors)
    return problem_response(
        422,
        "Malformed JSON" if body_invalid else "Validation failed",
        "The request body is not valid JSON."
        if body_invalid
        else "One or more fields are invalid; see errors.",
        type=PROBLEM_TYPE_BASE + ("malformed-json" if body_invalid else "validation"),
        instance=request.url.path,
        errors=errors,
    )


# SQLSTATE classes that mean "the database cannot serve us now", not "this request is wrong":
# connection exceptions, insufficient resources, operator intervention (shutdown, cannot
# connect now), and a database that does not accept connections.
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P", "55000")


def _sqlstate(exc: DBAPIError) -> str:
    for candidate in (exc.orig, getattr(exc.orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if code:
            return str(code)
    return ""


async def _database_error_handler(request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, DBAPIError)
    unavailable = exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    if unavailable or _sqlstate(exc).startswith(_UNAVAILABLE_SQLSTATES):
        return await _dependency_down_handler(request, exc)
    return await _unhandled_handler(request, exc)


async def _dependency_down_handler(request: Request, exc: Exception) -> ProblemResponse:
    # The database (or another backing server) is unreachable: the transaction never
    # committed, so nothing is half-written; the client may simply try again.
    logger.warning(
        "backing service unavailable on %s %s: %s", request.method, request.url.path, exc
    )
    return problem_response(
        503,
        "Service unavailable",
        "A backing service is unreachable just now; nothing was changed. Try again shortly.",
        type=PROBLEM_TYPE_BASE + "service-unavailable",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


async def _unhandled_handler(request: Request, exc: Exception) -> ProblemResponse:
    from taskflow_chassis.failures import Failure, classify

    if classify(exc) is Failure.TRANSIENT:
        # Redis, a broker or another service gone for a moment: a clear 503, never a 500.
        return await _dependency_down_handler(request, exc)
    cid = request.scope.get("state", {}).get("correlation_id")
    token = correlation_id_var.set(cid)
    try:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
    finally:
        correlation_id_var.reset(token)
    return problem_response(
        500,
        "Internal Server Error",
        "An unexpected error occurred. It has been logged; quote the correlation id.",
        instance=request.url.path,
        correlation_id=cid,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(DBAPIError, _database_error_handler)
    for unavailable in (DisconnectionError, ConnectionError, TimeoutError):
        app.add_exception_handler(unavailable, _dependency_down_handler)
    app.add_exception_handler(Exception, _unhandled_handler)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem answers of a route."""
    return {
        status: {
            "description": _phrase(status),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
