"""The work service's composition root: its settings, adapters and routes."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from taskflow_chassis.app import ServiceSpec, create_service_app
from taskflow_chassis.security import JwksFetcher
from taskflow_chassis.serve import migrations_dir

from taskflow_work import events
from taskflow_work.access import Authorizer
from taskflow_work.comments.views import comments, task_comments
from taskflow_work.config import WorkSettings, get_settings
from taskflow_work.projects.views import router as projects
from taskflow_work.replica.reconciler import ReplicaReconciler
from taskflow_work.replica.teams_api import TeamsApi
from taskflow_work.tables import import_all_tables
from taskflow_work.tasks.views import router as tasks


def create_app(
    settings: WorkSettings | None = None,
    jwks_fetcher: JwksFetcher | None = None,
    teams_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """``jwks_fetcher`` and ``teams_transport`` replace the network hops to auth and teams
    (tests, and the embedded runtime where every service shares one process)."""
    settings = settings or get_settings()
    import_all_tables()

    async def start(app: FastAPI) -> None:
        app.state.teams_client = httpx.AsyncClient(
            base_url=settings.teams_url,
            transport=teams_transport,
            timeout=settings.teams_timeout_seconds,
        )
        app.state.authorizer = Authorizer(
            app.state.database,
            app.state.teams_client,
            cache_seconds=settings.read_through_cache_seconds,
        )
        app.state.reconciler = ReplicaReconciler(
            app.state.database,
            TeamsApi(app.state.teams_client, settings.internal_api_key),
            reconcile_seconds=settings.replica_reconcile_seconds,
            retry_seconds=settings.replica_retry_seconds,
        )
        await app.state.reconciler.start()

    async def stop(app: FastAPI) -> None:
        await app.state.reconciler.stop()
        await app.state.teams_client.aclose()

    return create_service_app(
        ServiceSpec(
            name="work",
            title="TaskFlow work",
            description="Projects, tasks, assignees, comments and task activity.",
            settings=settings,
            routers=[projects, tasks, task_comments, comments],
            migrations_dir=migrations_dir(__file__),
            handlers=events.HANDLERS,
            jwks_fetcher=jwks_fetcher,
            on_startup=[start],
            on_shutdown=[stop],
        )
    )
