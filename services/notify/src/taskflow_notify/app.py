"""The notify service's composition root: its settings, adapters and routes."""

from __future__ import annotations

import asyncio
import uuid

from fastapi import FastAPI
from taskflow_chassis.app import ServiceSpec, create_service_app
from taskflow_chassis.security import JwksFetcher
from taskflow_chassis.serve import migrations_dir

from taskflow_notify import events
from taskflow_notify.config import NotifySettings, get_settings
from taskflow_notify.notifications import scheduled
from taskflow_notify.notifications.dispatch import EmailDispatcher
from taskflow_notify.notifications.views import router
from taskflow_notify.tables import import_all_tables


def create_app(
    settings: NotifySettings | None = None, jwks_fetcher: JwksFetcher | None = None
) -> FastAPI:
    settings = settings or get_settings()
    import_all_tables()

    async def start(app: FastAPI) -> None:
        from taskflow_notify.notifications import messaging
        from taskflow_notify.worker import configure, send_email, warm_up_producer

        configure(settings)
        messaging.use_settings(settings)
        if settings.celery_broker_url:
            await asyncio.to_thread(warm_up_producer)

        async def enqueue(email_id: uuid.UUID) -> None:
            # Eager Celery runs the job right here, so keep it off the event loop.
            await asyncio.to_thread(send_email.delay, str(email_id))

        app.state.email_dispatcher = EmailDispatcher(
            app.state.database,
            enqueue,
            requeue_after=settings.email_requeue_seconds,
            sending_lease=settings.email_sending_lease_seconds,
        )
        await app.state.email_dispatcher.start()
        await scheduled.start(app)

    async def stop(app: FastAPI) -> None:
        await scheduled.stop(app)
        await app.state.email_dispatcher.stop()

    return create_service_app(
        ServiceSpec(
            name="notify",
            title="TaskFlow notify",
            description="The notification feed, email preferences, and due-date reminders.",
            settings=settings,
            routers=[router],
            migrations_dir=migrations_dir(__file__),
            handlers=events.HANDLERS,
            jwks_fetcher=jwks_fetcher,
            on_startup=[start],
            on_shutdown=[stop],
        )
    )
