"""The home page, and the error pages every route shares (HTML, not problem documents:
a person reads them)."""

from __future__ import annotations

import inspect
import json
import logging
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from taskflow_chassis.logs import CORRELATION_HEADER
from taskflow_chassis.problems import PROBLEM_MEDIA_TYPE, ProblemError

from taskflow_web.api.adapters import ApiProblem, ApiUnavailable
from taskflow_web.api.service import SignInRequired
from taskflow_web.deps import CsrfChecked, CsrfRefused, WebSessionDep
from taskflow_web.pages import rules
from taskflow_web.pages.service import Renderer

logger = logging.getLogger("taskflow.web")

router = APIRouter(include_in_schema=False, dependencies=[CsrfChecked])

# What a problem's answer says that its page says too: when to try again, what is
# allowed, the request's correlation id.
KEPT_HEADERS = ("retry-after", "allow", CORRELATION_HEADER)


@router.get("/")
async def home(session: WebSessionDep) -> RedirectResponse:
    return RedirectResponse(rules.DEFAULT_NEXT if session.signed_in else "/login", 303)


def _error_page(
    request: Request, status: int, title: str, detail: str, correlation_id: str | None = None
) -> HTMLResponse:
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
        "correlation_id": correlation_id,
    }
    return renderer.render(request, "error.html", context, status)


def problem_page(request: Request, status: int, body: bytes, headers: Headers) -> Response:
    """The page for a problem document the chassis answered (its edge limits, a bug)."""
    try:
        problem = json.loads(body)
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        problem = {}
    page = _error_page(
        request,
        status,
        str(problem.get("title") or "Request refused"),
        str(problem.get("detail") or ""),
        str(problem["correlation_id"]) if problem.get("correlation_id") else None,
    )
    for name in KEPT_HEADERS:
        if name in headers:
            page.headers[name] = headers[name]
    return page


class ProblemPages:
    """ASGI middleware: a problem document answered below web's routes (the chassis' edge:
    a body over its limit 413, an address too long 414, text that is not text 400) is
    turned into the error page, for the person reading it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        body = bytearray()

        async def send_page(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                content_type = Headers(raw=message["headers"]).get("content-type", "")
                if content_type.startswith(PROBLEM_MEDIA_TYPE):
                    held = message
                    return
            if held is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                headers = Headers(raw=held["headers"])
                page = problem_page(Request(scope), held["status"], bytes(body), headers)
                await page(scope, receive, send)

        await self.app(scope, receive, send_page)


def _is_page(request: Request, path: str) -> bool:
    """Whether a GET of ``path`` is one of web's routes."""
    scope = {"type": "http", "path": path, "root_path": "", "method": "GET"}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)


async def sign_in_required(request: Request, exc: Exception) -> Response:
    """To sign in, then back: to this page, or for a form posted once the session ended,
    to the page the form belongs to (its own address may answer only POST)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method not in {"GET", "HEAD"}:
        target = rules.page_above(request.url.path, lambda path: _is_page(request, path))
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
    page = _error_page(
        request,
        503,
        "TaskFlow is unavailable",
        "TaskFlow could not answer just now. Please try again in a moment.",
    )
    retry_after = exc.retry_after if isinstance(exc, ApiUnavailable) else None
    page.headers["Retry-After"] = retry_after or rules.UNAVAILABLE_RETRY_AFTER
    return page


async def api_problem(request: Request, exc: Exception) -> Response:
    """A problem no page handled (a page handles the ones a person can fix in its form);
    a 429's page says when to try again, as the API's answer did."""
    assert isinstance(exc, ApiProblem)
    page = _error_page(request, exc.status, exc.title, exc.detail)
    if exc.retry_after:
        page.headers["Retry-After"] = exc.retry_after
    return page


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return _error_page(request, 404, "Page not found", "There is no page at this address.")
    page = _error_page(request, exc.status_code, "Request refused", str(exc.detail))
    page.headers.update(exc.headers or {})  # a 405's Allow
    return page


async def bad_request(request: Request, exc: Exception) -> Response:
    detail = exc.detail if isinstance(exc, ProblemError) else "The address or form is not valid."
    status = exc.status if isinstance(exc, ProblemError) else 400
    return _error_page(request, status, "Bad request", str(detail))


def install_error_pages(app: FastAPI) -> None:
    """Replaces the chassis' problem documents with pages, for people."""
    chassis_unhandled = app.exception_handlers[Exception]

    async def server_error(request: Request, exc: Exception) -> Response:
        """The chassis logs the bug (or answers 503 for a backing service away) as for
        every service; the browser gets its answer as a page."""
        answer = chassis_unhandled(request, exc)
        if inspect.isawaitable(answer):
            answer = await answer
        return problem_page(request, answer.status_code, bytes(answer.body), answer.headers)

    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(ApiUnavailable, api_unavailable)
    app.add_exception_handler(ApiProblem, api_problem)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(ProblemError, bad_request)
    app.add_exception_handler(Exception, server_error)
    app.add_middleware(ProblemPages)
