"""The home page, and the error pages every route shares (HTML, not problem documents:
a person reads them)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from taskflow_chassis.problems import ProblemError

from taskflow_web.api.adapters import ApiProblem, ApiUnavailable
from taskflow_web.api.service import SignInRequired
from taskflow_web.deps import CsrfChecked, CsrfRefused, WebSessionDep
from taskflow_web.pages import rules
from taskflow_web.pages.service import Renderer

logger = logging.getLogger("taskflow.web")

router = APIRouter(include_in_schema=False, dependencies=[CsrfChecked])


@router.get("/")
async def home(session: WebSessionDep) -> RedirectResponse:
    return RedirectResponse(rules.DEFAULT_NEXT if session.signed_in else "/login", 303)


def _error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    """An error page with the layout, whoever is signed in (the session as the request
    left it, if it got that far)."""
    renderer: Renderer = request.app.state.renderer
    session = getattr(request.state, "web_session", None)
    context: dict[str, Any] = {
        "user": {"id": session.user_id, "username": session.username}
        if session is not None and session.signed_in
        else None,
        "csrf_token": session.csrf_token if session is not None else "",
        "flash": None,
        "path": request.url.path,
        "title": title,
        "detail": detail,
        "status": status,
    }
    return renderer.render(request, "error.html", context, status)


async def sign_in_required(request: Request, exc: Exception) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method not in {"GET", "HEAD"}:
        target = request.url.path
    return RedirectResponse("/login?" + urlencode({"next": rules.safe_next(target)}), 303)


async def csrf_refused(request: Request, exc: Exception) -> Response:
    return _error_page(
        request,
        403,
        "This form could not be accepted",
        f"{exc} Go back, reload the page and try again.",
    )


async def api_unavailable(request: Request, exc: Exception) -> Response:
    logger.warning("web: the API is unavailable: %s", exc)
    return _error_page(
        request,
        503,
        "TaskFlow is unavailable",
        "TaskFlow could not answer just now. Please try again in a moment.",
    )


async def api_problem(request: Request, exc: Exception) -> Response:
    """A problem no page handled (a page handles the ones a person can fix in its form)."""
    assert isinstance(exc, ApiProblem)
    return _error_page(request, exc.status, exc.title, exc.detail)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return _error_page(request, 404, "Page not found", "There is no page at this address.")
    return _error_page(request, exc.status_code, "Request refused", str(exc.detail))


async def bad_request(request: Request, exc: Exception) -> Response:
    detail = exc.detail if isinstance(exc, ProblemError) else "The address or form is not valid."
    status = exc.status if isinstance(exc, ProblemError) else 400
    return _error_page(request, status, "Bad request", str(detail))


def install_error_pages(app: FastAPI) -> None:
    """Replaces the chassis' problem documents with pages, for people."""
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(ApiUnavailable, api_unavailable)
    app.add_exception_handler(ApiProblem, api_problem)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(ProblemError, bad_request)
