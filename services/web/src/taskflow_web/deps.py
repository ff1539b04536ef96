"""Route dependencies of web, as ``Annotated`` aliases every page uses.

- ``WebSessionDep``: the browser's session, created (anonymous) on its first request,
  signed out where auth revoked its access token;
- ``SignedInDep``: the same, signed in (its access token refreshed if due), else the
  answer is /login?next=<this page>;
- ``ApiDep``: the public API on behalf of that session (tokens refreshed as needed);
- ``PageDep``: renders a template with the layout's context (user, CSRF token, message);
- ``CsrfChecked``: in every router's ``dependencies``: an unsafe method (POST, PUT, PATCH,
  DELETE) needs the session's CSRF token (form field ``csrf_token`` or header
  ``X-CSRF-Token``) and, where the browser names one, a same-origin ``Origin``.

``Context``: what web's event handlers receive (the page cache, whose counters they move).
"""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, Request
from taskflow_chassis.deps import get_clock
from taskflow_chassis.handlers import EventContext

from taskflow_web.api.service import Api, SignInRequired
from taskflow_web.config import WebSettings
from taskflow_web.pages.service import Page, Renderer
from taskflow_web.replica.service import PageCache
from taskflow_web.sessions import rules
from taskflow_web.sessions.service import Session, SessionStore

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def _store(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.sessions
    return store


async def web_session(request: Request) -> Session:
    """The session the cookie names, else a new anonymous one (its cookie is set on the
    answer, whatever the answer is: see sessions.adapters.SessionCookie)."""
    cached: Session | None = getattr(request.state, "web_session", None)
    if cached is not None:
        return cached
    settings: WebSettings = request.app.state.settings
    store = _store(request)
    raw_id = request.cookies.get(settings.cookie_name)
    session = await store.load(raw_id) if raw_id else None
    if session is None:
        session = await store.create()
    remember(request, session)
    return session


def remember(request: Request, session: Session | None) -> None:
    """The request's current session; a new id (created, rotated) goes into the cookie, an
    ended session clears it."""
    request.state.web_session = session
    if session is None:
        request.state.session_cookie = ""
    elif session.raw_id:
        request.state.session_cookie = session.raw_id


WebSessionDep = Annotated[Session, Depends(web_session)]


async def api(request: Request, session: WebSessionDep) -> Api:
    cached: Api | None = getattr(request.state, "web_api", None)
    if cached is not None:
        return cached
    settings: WebSettings = request.app.state.settings
    client: httpx.AsyncClient = request.app.state.api_client
    made = Api(
        client,
        _store(request),
        session,
        refresh_margin_seconds=settings.refresh_margin_seconds,
        clock=await get_clock(request),
        client_address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        on_change=lambda changed: remember(request, changed),
        form_rendering=lambda: getattr(request.state, "form_rendering", None),
        sendings=request.app.state.form_sendings,
        on_write=_page_cache(request).changed_by,
    )
    request.state.web_api = made
    return made


ApiDep = Annotated[Api, Depends(api)]


async def signed_in(session: WebSessionDep, api: ApiDep) -> Session:
    if not session.signed_in:
        raise SignInRequired()
    # Now, not at the page's first API call: answers kept per person may spare it every
    # call, and an expired token is past what the revocation list remembers.
    await api.refresh_if_due()
    return api.session


SignedInDep = Annotated[Session, Depends(signed_in)]


def _page_cache(request: Request) -> PageCache:
    cache: PageCache = request.app.state.page_cache
    return cache


Context = EventContext[PageCache]


async def page(request: Request, api: ApiDep) -> Page:
    renderer: Renderer = request.app.state.renderer
    return Page(request, renderer, api, _page_cache(request))


PageDep = Annotated[Page, Depends(page)]


class CsrfRefused(Exception):
    """An unsafe request without the session's token, or from another site: 403."""


async def check_csrf(request: Request, session: WebSessionDep) -> None:
    if request.method not in rules.UNSAFE_METHODS:
        return
    allowed: frozenset[str] = request.app.state.allowed_origins
    if not rules.same_origin(
        request.headers.get("origin"),
        request.headers.get("sec-fetch-site"),
        request.headers.get("host"),
        allowed,
    ):
        raise CsrfRefused("This form was sent from another site.")
    header = request.headers.get(CSRF_HEADER)
    field: str | None = None
    if "form" in request.headers.get("content-type", ""):
        value = (await request.form()).get(CSRF_FIELD)
        field = value if isinstance(value, str) else None
    token, rendering = rules.split_form_token(header if header is not None else field)
    if not rules.csrf_matches(session.csrf_token, token):
        raise CsrfRefused("This form is out of date or was not sent from this site.")
    # The form's own rendering (htmx sends the page's in the header, the form its own).
    form_rendering = rules.split_form_token(field)[1] if field is not None else None
    request.state.form_rendering = form_rendering or rendering


CsrfChecked = Depends(check_csrf)
