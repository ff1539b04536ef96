"""The notify service's composition root: its settings, the handlers' dependencies, the
email dispatcher, the reminder timer, the routes, and the Celery app of its jobs.

The API queues the jobs that the Celery worker runs: both build their Celery app with
``worker.create_celery_app``, and the worker and beat start from ``worker.py`` (its
docstring has the commands). Without ``NOTIFY_CELERY_BROKER_URL`` Celery runs eagerly in
the calling process (embedded).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI
from taskflow_chassis.app import ServiceSpec, create_service_app
from taskflow_chassis.security import JwksFetcher
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import Publisher

import taskflow_notify.models  # noqa: F401 - every table, so the metadata is complete
from taskflow_notify import worker
from taskflow_notify.config import NotifySettings
from taskflow_notify.deps import NotifyDeps
from taskflow_notify.email.jobs import SEND_EMAILS, warm_up_producer
from taskflow_notify.email.scheduled import EmailDispatcher
from taskflow_notify.email.service import EmailTemplates
from taskflow_notify.handlers import EVENT_HANDLERS
from taskflow_notify.live.scheduled import LivePrune
from taskflow_notify.live.service import CursorWatch
from taskflow_notify.notifications.scheduled import ReminderScan
from taskflow_notify.notifications.views import router
from taskflow_notify.replica.adapters import TeamsGrants
from taskflow_notify.replica.scheduled import PermissionBackfill
from taskflow_notify.webhooks.adapters import SecretCipher, WebhookPoster
from taskflow_notify.webhooks.scheduled import WebhookSender
from taskflow_notify.webhooks.views import router as webhooks_router
from taskflow_notify.worker import create_celery_app


def create_app(
    settings: NotifySettings | None = None,
    jwks_fetcher: JwksFetcher | None = None,
    teams_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """``jwks_fetcher`` and ``teams_transport`` replace the network hops to auth and teams
    (tests, and the embedded runtime)."""
    settings = settings or NotifySettings()
    deps = NotifyDeps(settings=settings, templates=EmailTemplates())
    publisher = Publisher("notify")
    celery = create_celery_app(settings, deps)
    send_emails = celery.tasks[SEND_EMAILS]

    async def start(app: FastAPI) -> None:
        if settings.celery_broker_url:
            await asyncio.to_thread(warm_up_producer, celery)

        async def enqueue(email_ids: list[uuid.UUID]) -> None:
            # Eager Celery runs the job right here, so keep it off the event loop.
            await asyncio.to_thread(send_emails.delay, [str(email_id) for email_id in email_ids])

        def now() -> datetime:
            clock: Callable[[], datetime] = getattr(app.state, "clock", utcnow)  # tests move it
            return clock()

        app.state.email_dispatcher = EmailDispatcher(
            app.state.database,
            enqueue,
            publisher,
            job_size=settings.email_job_size,
            requeue_after=settings.email_requeue_seconds,
            sending_lease=settings.email_sending_lease_seconds,
        )
        await app.state.email_dispatcher.start()
        app.state.reminder_scan = ReminderScan(app.state.database, deps, publisher)
        if settings.reminder_timer:
            app.state.reminder_scan.start(now)
        app.state.live_prune = LivePrune(app.state.database, publisher, settings)
        app.state.live_prune.start(now)
        app.state.live_watch = CursorWatch(app.state.database, settings)
        app.state.teams_client = httpx.AsyncClient(
            base_url=settings.teams_url,
            transport=teams_transport,
            timeout=settings.teams_timeout_seconds,
        )
        app.state.teams_grants = TeamsGrants(app.state.teams_client, settings.internal_api_key)
        app.state.permission_backfill = PermissionBackfill(
            app.state.database,
            app.state.teams_grants,
            publisher,
            settings.permissions_backfill_seconds,
        )
        app.state.permission_backfill.start()
        app.state.webhook_sender = WebhookSender(
            app.state.database,
            app.state.webhook_poster,
            app.state.webhook_cipher,
            publisher,
            settings,
            deps.templates,
            utcnow,
        )
        await app.state.webhook_sender.start()

    async def stop(app: FastAPI) -> None:
        await app.state.webhook_sender.stop()
        await app.state.permission_backfill.stop()
        await app.state.webhook_poster.close()
        await app.state.teams_client.aclose()
        await app.state.live_prune.stop()
        await app.state.live_watch.stop()
        await app.state.reminder_scan.stop()
        await app.state.email_dispatcher.stop()

    app = create_service_app(
        ServiceSpec(
            name="notify",
            title="TaskFlow notify",
            description="The notification feed, email preferences, and due-date reminders.",
            settings=settings,
            routers=[router, webhooks_router],
            migrations_dir=migrations_dir(__file__),
            handlers=EVENT_HANDLERS,
            handler_deps=deps,
            jwks_fetcher=jwks_fetcher,
            on_startup=[start],
            on_shutdown=[stop],
        )
    )
    app.state.celery = celery
    app.state.webhook_poster = WebhookPoster(
        allowed_networks=tuple(settings.webhook_allowed_networks),
        ca_bundle=settings.webhook_ca_bundle,
        connect_timeout=settings.webhook_connect_timeout_seconds,
        timeout=settings.webhook_timeout_seconds,
        max_response_bytes=settings.webhook_max_response_bytes,
        connections=settings.webhook_concurrency,
    )
    app.state.webhook_cipher = SecretCipher.load_or_create(
        data_dir=settings.data_dir / "notify",
        key=settings.webhook_secret_key.get_secret_value(),
        key_file=settings.webhook_secret_key_file,
        require_configured=settings.require_webhook_secret_key,
    )
    return app


def __getattr__(name: str) -> Any:
    """``celery -A taskflow_notify.app:celery``, as before there was ``worker.py``: the same
    app, for deployments still started that way (they import the API's modules too)."""
    if name == "celery":
        return worker.celery
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
