"""The service app factory: one place that wires a service to its adapters.

Each service's ``app.py`` calls ``create_service_app`` with its routers, tables,
migrations and event handlers; the adapters (database, bus, JWKS source) are
chosen here from the service's settings, by URL, never by ``if testing``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import APIRouter, FastAPI

from taskflow_chassis import health
from taskflow_chassis.bus import EventBus, create_bus
from taskflow_chassis.config import ServiceSettings
from taskflow_chassis.db import Database
from taskflow_chassis.deployment import apply_deployment_defaults
from taskflow_chassis.edge import install_request_guard
from taskflow_chassis.etags import install_etags
from taskflow_chassis.handlers import EventHandlers, HandlerMap
from taskflow_chassis.idempotency import install_idempotency
from taskflow_chassis.inbox import EventConsumer
from taskflow_chassis.logs import CorrelationIdMiddleware
from taskflow_chassis.migrations import upgrade_to_head
from taskflow_chassis.openapi import add_docs, install_openapi, operation_id
from taskflow_chassis.openapi import swagger_for_services as swagger_for_services
from taskflow_chassis.outbox import OutboxRelay
from taskflow_chassis.problems import install_problem_handlers
from taskflow_chassis.query_params import install_query_check
from taskflow_chassis.revocation import RevocationList, RevocationSync, http_revocation_loader
from taskflow_chassis.security import JwksFetcher, JwtVerifier
from taskflow_chassis.unit_of_work import Publisher

logger = logging.getLogger("taskflow.app")

# How long start-up waits for the broker before serving without it (it attaches later).
BUS_START_TIMEOUT_SECONDS = 10.0

# How long start-up waits for auth's list of revoked tokens before serving without it
# (it keeps loading in the background).
REVOCATIONS_START_TIMEOUT_SECONDS = 3.0

StartupHook = Callable[[FastAPI], Awaitable[None]]


@dataclass
class ServiceSpec:
    """What a service brings; the chassis supplies the rest."""

    name: str
    title: str
    settings: ServiceSettings
    routers: Sequence[APIRouter]
    migrations_dir: Path
    # The service's EVENT_HANDLERS, and what its handlers receive as ``context.deps``.
    handlers: EventHandlers = field(default_factory=dict)
    handler_deps: object = None
    jwks_fetcher: JwksFetcher | None = None
    on_startup: Sequence[StartupHook] = ()
    on_shutdown: Sequence[StartupHook] = ()
    description: str = ""
    version: str = "1.0.0"
    # Keep auth's revoked tokens in memory and refuse them (auth checks its own database).
    revocation_list: bool = True
    # An API: Swagger UI, ReDoc, /openapi/<name>.json, and Idempotency-Key on its POSTs. Off
    # for a service with no API (web: its forms keep their own sendings, FormSendings).
    api_docs: bool = True
    # False: every handler is idempotent by nature and keeps no rows (web's counters), so
    # events are consumed without an inbox row or a transaction (taskflow_chassis.inbox).
    inbox: bool = True


def create_service_app(spec: ServiceSpec) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await _Runtime.build(app, spec)
        for hook in spec.on_startup:
            await hook(app)
        await runtime.relay.start()
        await runtime.attach()
        logger.info("%s started", spec.name)
        try:
            yield
        finally:
            for hook in spec.on_shutdown:
                await hook(app)
            await runtime.stop()

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version=spec.version,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=f"/openapi/{spec.name}.json" if spec.api_docs else None,
        generate_unique_id_function=operation_id,
    )
    app.state.service_name = spec.name
    app.state.settings = spec.settings
    app.state.publisher = Publisher(spec.name)
    if spec.api_docs:
        install_idempotency(app)  # innermost: it sees the answer while the route's session is open
    install_request_guard(app)  # inside the correlation id: its refusals carry one
    app.add_middleware(CorrelationIdMiddleware)
    apply_deployment_defaults(app, spec.settings)  # outermost: CORS answers even refusals
    install_problem_handlers(app)
    install_etags(app)
    install_query_check(app)  # before the routers: each route's query is checked
    app.include_router(health.router)
    for router in spec.routers:
        app.include_router(router)
    if spec.api_docs:
        add_docs(app, spec.name, spec.title, spec.settings.docs_services)
        install_openapi(app)
    return app


@dataclass
class _Runtime:
    """A started service's adapters and loops, stopped in the reverse order."""

    name: str
    database: Database
    bus: EventBus
    relay: OutboxRelay
    consumer: EventConsumer | None
    revocations: RevocationSync | None
    attaching: asyncio.Task[None] | None = None

    @classmethod
    async def build(cls, app: FastAPI, spec: ServiceSpec) -> _Runtime:
        """The adapters the settings name, on ``app.state``; nothing started yet."""
        settings = spec.settings
        database = Database.from_settings(settings)
        if settings.run_migrations_on_start:
            await upgrade_to_head(database, spec.migrations_dir, f"alembic_version_{spec.name}")
        bus: EventBus = create_bus(
            settings.event_bus_url,
            exchange=settings.event_exchange,
            max_retries=settings.consumer_max_retries,
            retry_base_seconds=settings.consumer_retry_base_seconds,
            batch_size=settings.consumer_batch_size,
            batch_linger=settings.consumer_batch_linger_ms / 1000,
            batch_gap=settings.consumer_batch_gap_ms / 1000,
            prefetch=settings.consumer_prefetch,
        )
        relay = OutboxRelay(
            database,
            bus,
            sweep_interval=settings.relay_sweep_seconds,
            batch_size=settings.relay_batch_size,
            gap=settings.relay_gap_ms / 1000,
        )
        handlers = HandlerMap(spec.handlers, spec.handler_deps)
        consumer = (
            EventConsumer(
                database,
                bus,
                queue=settings.event_queue_prefix + spec.name,
                handlers=handlers,
                publisher=app.state.publisher,
                inbox=spec.inbox,
            )
            if handlers
            else None
        )
        app.state.database = database
        app.state.bus = bus
        app.state.relay = relay
        app.state.consumer = consumer
        app.state.jwt_verifier = JwtVerifier.from_settings(settings, spec.jwks_fetcher)
        revocations = _revocation_sync(app, spec) if spec.revocation_list else None
        return cls(spec.name, database, bus, relay, consumer, revocations)

    async def attach(self) -> None:
        """Connect the bus, subscribe the consumer and the revocations.

        The broker may be away at start-up: the API serves meanwhile (the outbox
        keeps the events), and the bus connects and the consumer starts once it
        answers.
        """
        try:
            # Bounded: a broker that accepts the connection and never answers must not
            # keep the API from serving.
            await asyncio.wait_for(
                _attach(self.bus, self.consumer, self.revocations),
                BUS_START_TIMEOUT_SECONDS,
            )
        except Exception as exc:
            logger.warning("%s: event broker unreachable at start-up (%s)", self.name, exc)
            self.attaching = asyncio.create_task(
                _attach_to_bus(self.bus, self.consumer, self.revocations, self.name),
                name=f"{self.name}:bus",
            )
            if self.revocations is not None:
                self.revocations.reload()  # what auth revoked so far, before the broker is back
        if self.revocations is not None:
            await self.revocations.settle(REVOCATIONS_START_TIMEOUT_SECONDS)

    async def stop(self) -> None:
        if self.attaching is not None:
            self.attaching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.attaching
        if self.revocations is not None:
            await self.revocations.stop()
        if self.consumer is not None:
            await self.consumer.stop()
        await self.relay.stop()
        await self.bus.close()
        await self.database.dispose()


def _revocation_sync(app: FastAPI, spec: ServiceSpec) -> RevocationSync:
    """Auth's revoked tokens, refused by this process's token check (see revocation.py)."""
    settings = spec.settings
    revocations = RevocationList(complete=False)
    load = http_revocation_loader(
        settings.resolved_revocations_url(),
        settings.internal_api_key,
        # The embedded runtime reaches auth in-process (ASGI), not over a socket.
        transport=getattr(app.state, "auth_transport", None),
    )
    app.state.revocations = revocations
    app.state.token_checks = [*getattr(app.state, "token_checks", []), revocations.check]
    return RevocationSync(revocations, load, service=spec.name)


async def _attach(
    bus: EventBus, consumer: EventConsumer | None, revocations: RevocationSync | None
) -> None:
    # A robust connection re-connects by itself once it has been made.
    await bus.connect()
    if revocations is not None:
        await revocations.subscribe(bus)
    if consumer is not None:
        await consumer.start()


async def _attach_to_bus(
    bus: EventBus, consumer: EventConsumer | None, revocations: RevocationSync | None, name: str
) -> None:
    """Until the broker first answers, try again with back-off."""
    delay = 1.0
    while True:
        await asyncio.sleep(delay)
        try:
            await _attach(bus, consumer, revocations)
            logger.info("%s: event broker reached", name)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.warning(
                "%s: event broker unreachable (%s: %s); trying again in %.0f s",
                name,
                type(exc).__name__,
                exc,
                delay,
            )
            delay = min(delay * 2, 10.0)
