"""The web service's composition root: its settings, the API client, sessions, pages.

Web is a backend-for-frontend: it owns no business data (its database holds only
sign-in sessions) and calls the four services' public API through the gateway, with the
signed-in person's own token, like any client."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import httpx
from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware
from taskflow_chassis.app import ServiceSpec, create_service_app
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.types import utcnow

# Every table in the metadata before the first flush.
from taskflow_web import models  # noqa: F401
from taskflow_web.accounts.views import router as accounts
from taskflow_web.api.adapters import api_client
from taskflow_web.api.service import FormSendings
from taskflow_web.audit.views import router as audit
from taskflow_web.config import WebSettings
from taskflow_web.handlers import EVENT_HANDLERS
from taskflow_web.invitations.views import router as invitations
from taskflow_web.notifications.service import UnreadBadge
from taskflow_web.notifications.views import router as notifications
from taskflow_web.pages.adapters import HeadAsGet, SecurityHeaders
from taskflow_web.pages.service import STATIC_DIR, Renderer, VersionedStatic, static_versions
from taskflow_web.pages.views import install_error_pages
from taskflow_web.pages.views import router as pages
from taskflow_web.problems.views import router as problems
from taskflow_web.profile.views import router as profile
from taskflow_web.projects.views import router as projects
from taskflow_web.replica.adapters import Generations, MemoryGenerations, RedisGenerations
from taskflow_web.replica.service import PageCache
from taskflow_web.sessions import rules
from taskflow_web.sessions import scheduled as session_purge
from taskflow_web.sessions.adapters import SessionCookie, TokenCipher
from taskflow_web.sessions.service import SessionStore
from taskflow_web.tasks.views import router as tasks
from taskflow_web.teams.views import router as teams
from taskflow_web.tokens.views import router as tokens
from taskflow_web.webhooks.views import router as webhooks

logger = logging.getLogger("taskflow.web")


def page_cache(settings: WebSettings, *, in_process: bool) -> PageCache:
    """Kept pages need every event that changes them, and counters every web process
    sees: Redis with a broker; this process's memory where web runs in one process with
    the services and their in-memory bus (``in_process``: the embedded runtime). Anything
    else (a lone web on an in-memory bus hears no event) keeps nothing."""
    in_memory_bus = settings.event_bus_url.startswith("memory://")
    generations: Generations = MemoryGenerations()
    enabled = settings.page_cache and in_memory_bus and in_process
    if settings.page_cache and settings.page_cache_redis_url and not in_memory_bus:
        prefix = settings.page_cache_key_prefix
        generations = RedisGenerations(settings.page_cache_redis_url, prefix)
        enabled = True
    if settings.page_cache and not enabled:
        logger.warning(
            "page cache off: it needs web's events and WEB_PAGE_CACHE_REDIS_URL (or make dev)"
        )
    return PageCache(
        generations,
        enabled=enabled,
        seconds=settings.page_cache_seconds,
        entries=settings.page_cache_entries,
    )


def create_app(
    settings: WebSettings | None = None,
    api_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """``api_transport`` replaces the network hop to the gateway (tests, and the embedded
    runtime, where web calls the other services in the same process)."""
    settings = settings or WebSettings()
    cipher = TokenCipher.load_or_create(
        data_dir=settings.data_dir / "web",
        key=settings.token_key.get_secret_value(),
        key_file=settings.token_key_file,
        require_configured=settings.require_token_key,
    )

    # Web calling the API in-process is the embedded runtime: one process, one bus.
    kept_pages = page_cache(settings, in_process=api_transport is not None)

    def clock() -> datetime:
        now: datetime = getattr(app.state, "clock", utcnow)()
        return now

    async def start(app: FastAPI) -> None:
        app.state.api_client = api_client(
            settings.api_url,
            api_transport,
            settings.api_timeout_seconds,
            verify=settings.api_verify_tls,
        )
        app.state.sessions = SessionStore(
            app.state.database,
            app.state.publisher,
            cipher,
            idle=timedelta(minutes=settings.session_idle_minutes),
            longest=timedelta(days=settings.session_max_days),
            clock=clock,
            revocations=app.state.revocations,
        )
        app.state.form_sendings = FormSendings(app.state.database, app.state.publisher, clock)

    async def stop(app: FastAPI) -> None:
        await app.state.api_client.aclose()
        await kept_pages.close()

    app = create_service_app(
        ServiceSpec(
            name="web",
            title="TaskFlow web",
            description="The browser app: pages over the four services' public API.",
            settings=settings,
            routers=[
                pages,
                accounts,
                profile,
                teams,
                projects,
                tasks,
                notifications,
                invitations,
                audit,
                tokens,
                webhooks,
                problems,
            ],
            migrations_dir=migrations_dir(__file__),
            handlers=EVENT_HANDLERS,
            handler_deps=kept_pages,
            inbox=False,  # each handler moves counters: twice is harmless (handlers.py)
            on_startup=[start, session_purge.start],
            on_shutdown=[session_purge.stop, stop],
            # Sessions' tokens checked as the services check them: pages kept per person
            # may ask the API nothing (SessionStore.load).
            revocation_list=True,
            api_docs=False,  # pages, not an API: no Swagger UI, no OpenAPI document
        )
    )
    # Static files go compressed (public, no secret in them); pages do not, so a page's
    # CSRF token never shares a compressed answer with what a request put in it (BREACH).
    app.mount("/static", GZipMiddleware(VersionedStatic(directory=STATIC_DIR)), name="static")
    app.state.page_cache = kept_pages
    app.state.renderer = Renderer(static_versions())
    app.state.unread_badge = UnreadBadge()
    app.state.renderer.layout_hooks.append(app.state.unread_badge.layout)
    app.state.allowed_origins = frozenset({rules.origin_of(settings.resolved_web_url())})
    install_error_pages(app)
    app.add_middleware(
        SessionCookie,
        name=settings.cookie_name,
        max_age=settings.session_max_days * 24 * 3600,
    )
    # HEAD answered as GET, headers only (outside the cookie: a HEAD sets it as a GET does).
    app.add_middleware(HeadAsGet)
    # Outermost: the Content-Security-Policy on every answer, static files and errors too.
    app.add_middleware(SecurityHeaders)
    return app
