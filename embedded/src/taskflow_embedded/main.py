"""The embedded runtime (``make dev``): every service app in one uvicorn process.

Requests are dispatched by path prefix exactly as the gateway routes them
(docs/http-api.md), so clients see the same URLs in both runtimes. Each service keeps its
own SQLite file under the data directory and they talk over the in-process bus.
A later service plugs in with one line in ``SERVICES``. Web, the browser app, has no
prefix: it answers every path no other service owns (``/``, /login, /static/...), and
calls the API through this same dispatcher, in-process, as it calls the gateway.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import SecretStr
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send
from taskflow_chassis.app import swagger_for_services
from taskflow_chassis.edge import PROBLEM_HTTP_PROTOCOL
from taskflow_chassis.logs import configure_logging
from taskflow_chassis.security import JwtVerifier

from taskflow_embedded.streaming import StreamingASGITransport

logger = logging.getLogger("taskflow.embedded")


@dataclass(frozen=True)
class EmbeddedService:
    name: str
    factory: str  # "module:function" building the service's FastAPI app
    prefixes: tuple[str, ...]  # the gateway's path prefixes for it (docs/http-api.md)


AUTH = "taskflow_auth.app:create_app"
TEAMS = "taskflow_teams.app:create_app"
WORK = "taskflow_work.app:create_app"
NOTIFY = "taskflow_notify.app:create_app"
WEB = "taskflow_web.app:create_app"

SERVICES: tuple[EmbeddedService, ...] = (
    EmbeddedService("auth", AUTH, ("/api/v1/auth", "/api/v1/participants", "/api/v1/tokens")),
    EmbeddedService(
        "teams",
        TEAMS,
        ("/api/v1/teams", "/api/v1/invitations", "/api/v1/permissions", "/api/v1/audit"),
    ),
    EmbeddedService("work", WORK, ("/api/v1/projects", "/api/v1/tasks", "/api/v1/comments")),
    # A team's webhooks are notify's: "*" stands for one path segment (the team's id).
    EmbeddedService("notify", NOTIFY, ("/api/v1/notifications", "/api/v1/teams/*/webhooks")),
    # The fallback: every path the services above do not own (the gateway's lowest rule),
    # the pages every link TaskFlow sends opens among them (/verify-email, /reset-password,
    # /invitations/accept, /tasks/{id}).
    EmbeddedService("web", WEB, ()),
)


def _load(factory: str) -> Callable[[], FastAPI]:
    module, _, function = factory.partition(":")
    built: Callable[[], FastAPI] = getattr(importlib.import_module(module), function)
    return built


class Dispatcher:
    """ASGI app that routes a request to the service owning its path prefix."""

    def __init__(self, services: tuple[EmbeddedService, ...] = SERVICES) -> None:
        self.services = services
        self.apps: dict[str, FastAPI] = {}
        for service in services:
            factory: Callable[..., FastAPI] = _load(service.factory)
            if service.name in ("work", "notify") and "teams" in self.apps:
                # Work and notify reach teams in this process, not over a socket to itself:
                # the membership read-through and work's replica resyncs (internal API).
                teams = httpx.ASGITransport(app=self.apps["teams"])
                self.apps[service.name] = factory(teams_transport=teams)
            elif service.name == "web":
                # Web calls the API as a browser's client would, through this dispatcher;
                # answers arrive as they are sent (the live stream never ends by itself).
                # The browser's address goes with each call, as through the gateway's
                # internal entry point: auth throttles each browser, not this process.
                caller = BrowserAddress(self)
                self.apps[service.name] = factory(api_transport=StreamingASGITransport(app=caller))
            else:
                self.apps[service.name] = factory()
        self._share_internal_key()
        self.routes: list[tuple[str, FastAPI]] = []
        for service in services:
            app = self.apps[service.name]
            documented = (f"/docs/{service.name}", f"/openapi/{service.name}.json")
            for prefix in (*service.prefixes, *(documented if service.prefixes else ())):
                self.routes.append((prefix, app))
        if "auth" in self.apps:  # Swagger UI's and ReDoc's files, as the gateway routes them
            self.routes.append(("/docs/static", self.apps["auth"]))
        self.routes.sort(key=lambda route: len(route[0]), reverse=True)

    def _route(self, path: str) -> FastAPI | None:
        for prefix, app in self.routes:
            if "*" in prefix:
                wanted, parts = prefix.split("/"), path.split("/")
                if len(parts) >= len(wanted) and all(
                    w == p or (w == "*" and p) for w, p in zip(wanted, parts, strict=False)
                ):
                    return app
            elif path == prefix or path.startswith(prefix + "/"):
                return app
        return None

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for name, app in self.apps.items():
                await stack.enter_async_context(app.router.lifespan_context(app))
                logger.info("service %s ready", name)
            self._verify_in_process()
            yield

    def _share_internal_key(self) -> None:
        """Work rebuilds its replica from teams' internal API, and every service loads the
        revoked tokens from auth's: a key they all hold, the configured one
        (TASKFLOW_INTERNAL_API_KEY), else a random one for this run. Set before the apps
        start, which is when they read it; they reach auth in this process."""
        apps = list(self.apps.values())
        keys = [app.state.settings.internal_api_key.get_secret_value() for app in apps]
        key = next((k for k in keys if k), "") or secrets.token_urlsafe(32)
        for app in apps:
            if not app.state.settings.internal_api_key.get_secret_value():
                app.state.settings.internal_api_key = SecretStr(key)
        auth = self.apps.get("auth")
        for name, app in self.apps.items():
            if auth is not None and name != "auth":
                app.state.auth_transport = httpx.ASGITransport(app=auth)

    def _verify_in_process(self) -> None:
        """Services read auth's JWKS through this process, not over a socket to itself."""
        auth = self.apps.get("auth")
        if auth is None:
            return

        async def fetch_jwks() -> dict[str, Any]:
            transport = httpx.ASGITransport(app=auth)
            async with httpx.AsyncClient(transport=transport, base_url="http://auth") as client:
                response = await client.get("/api/v1/auth/jwks.json")
                response.raise_for_status()
                jwks: dict[str, Any] = response.json()
                return jwks

        for name, app in self.apps.items():
            if name != "auth":
                app.state.jwt_verifier = JwtVerifier.from_settings(app.state.settings, fetch_jwks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        path: str = scope.get("path", "")
        app: ASGIApp | None = self._route(path)
        if app is None:
            app = self._own_routes(path)
        if app is None:
            app = self.apps.get("web") or _not_found(path)
        await app(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            async with self.lifespan():
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
                assert message["type"] == "lifespan.shutdown"
        except Exception as exc:
            logger.exception("embedded runtime failed")
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    def _own_routes(self, path: str) -> ASGIApp | None:
        if path in {"/docs", "/docs/"}:
            return self._docs()
        if path in {"/healthz", "/readyz"}:
            return _StatusApp(self, path)
        if path == "/api" or path.startswith(("/api/", "/internal/")):
            return _not_found(path)  # an API path no service owns is not a page
        return None

    def _docs(self) -> Response:
        return swagger_for_services([s.name for s in self.services if s.prefixes])


class BrowserAddress:
    """Web's calls to the API in this process: the client is the browser web names in
    X-Real-Ip (the address web's own server saw), as the gateway's internal entry point
    trusts web's header. Only web reaches the dispatcher this way; a request from the
    network keeps its socket's address (no proxy headers)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            named = dict(scope["headers"]).get(b"x-real-ip")
            if named:
                scope = {**scope, "client": (named.decode("latin-1").strip(), 0)}
        await self.app(scope, receive, send)


def _not_found(path: str) -> Response:
    return JSONResponse(
        {
            "type": "about:blank",
            "title": "Not Found",
            "status": 404,
            "detail": f"No route for {path}.",
        },
        status_code=404,
        media_type="application/problem+json",
    )


class _StatusApp:
    """Aggregated /healthz and /readyz: each service's own answer, under its name."""

    def __init__(self, dispatcher: Dispatcher, path: str) -> None:
        self.dispatcher, self.path = dispatcher, path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        results: dict[str, object] = {}
        healthy = True
        for name, app in self.dispatcher.apps.items():
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://embedded") as client:
                answer = await client.get(self.path)
            healthy = healthy and answer.status_code == 200
            results[name] = answer.json()
        body = {"status": "ok" if healthy else "unavailable", "services": results}
        response = Response(
            json.dumps(body), status_code=200 if healthy else 503, media_type="application/json"
        )
        await response(scope, receive, send)


def create_app() -> Dispatcher:
    return Dispatcher()


def main() -> None:
    import uvicorn

    configure_logging(os.environ.get("TASKFLOW_LOG_LEVEL", "INFO"), json_lines=False)
    port = int(os.environ.get("PORT", "8000"))
    host = os.environ.get("HOST", "127.0.0.1")
    # Services that verify tokens fetch auth's JWKS through this same process.
    os.environ.setdefault("TASKFLOW_PUBLIC_URL", f"http://127.0.0.1:{port}")
    os.environ.setdefault("TASKFLOW_JWKS_URL", f"http://127.0.0.1:{port}/api/v1/auth/jwks.json")
    uvicorn.run(
        create_app(),
        host=host,
        port=port,
        log_config=None,
        proxy_headers=False,
        http=PROBLEM_HTTP_PROTOCOL,
    )


if __name__ == "__main__":
    main()
