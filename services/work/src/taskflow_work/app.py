"""The work service's composition root: its settings, adapters, dependencies and routes."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from taskflow_chassis.app import ServiceSpec, create_service_app
from taskflow_chassis.security import JwksFetcher
from taskflow_chassis.serve import migrations_dir

# Every table in the metadata before the first flush orders rows by their foreign keys.
from taskflow_work import models  # noqa: F401
from taskflow_work.access import Authorizer
from taskflow_work.comments.views import comments, task_comments
from taskflow_work.config import WorkSettings
from taskflow_work.deps import WorkDeps
from taskflow_work.handlers import EVENT_HANDLERS
from taskflow_work.projects import scheduled as project_purge
from taskflow_work.projects import service as projects_service
from taskflow_work.projects.views import router as projects
from taskflow_work.replica.adapters import TeamsApi
from taskflow_work.replica.scheduled import ReplicaReconciler
from taskflow_work.replica.service import Departures, ReplicaSync
from taskflow_work.tasks import service as tasks_service
from taskflow_work.tasks.queries import TaskPages
from taskflow_work.tasks.views import router as tasks


def replica_departures() -> Departures:
    """A member who leaves a team leaves its tasks; a purged team's projects go."""
    return Departures(
        member_left=tasks_service.unassign_everywhere,
        team_deleted=projects_service.delete_team_projects,
    )


def create_app(
    settings: WorkSettings | None = None,
    jwks_fetcher: JwksFetcher | None = None,
    teams_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """``jwks_fetcher`` and ``teams_transport`` replace the network hops to auth and teams
    (tests, and the embedded runtime where every service shares one process)."""
    settings = settings or WorkSettings()
    departures = replica_departures()

    async def start(app: FastAPI) -> None:
        app.state.teams_client = httpx.AsyncClient(
            base_url=settings.teams_url,
            transport=teams_transport,
            timeout=settings.teams_timeout_seconds,
        )
        app.state.authorizer = Authorizer(
            app.state.database,
            app.state.teams_client,
            app.state.publisher,
            cache_seconds=settings.read_through_cache_seconds,
        )
        sync = ReplicaSync(
            app.state.database,
            TeamsApi(app.state.teams_client, settings.internal_api_key),
            departures,
            app.state.publisher,
        )
        app.state.reconciler = ReplicaReconciler(
            sync,
            reconcile_seconds=settings.replica_reconcile_seconds,
            retry_seconds=settings.replica_retry_seconds,
        )
        await app.state.reconciler.start()

    async def stop(app: FastAPI) -> None:
        await app.state.reconciler.stop()
        await app.state.teams_client.aclose()

    app = create_service_app(
        ServiceSpec(
            name="work",
            title="TaskFlow work",
            description="Projects, tasks, assignees, comments and task activity.",
            settings=settings,
            routers=[projects, tasks, task_comments, comments],
            migrations_dir=migrations_dir(__file__),
            handlers=EVENT_HANDLERS,
            handler_deps=WorkDeps(departures),
            jwks_fetcher=jwks_fetcher,
            on_startup=[start, project_purge.start],
            on_shutdown=[project_purge.stop, stop],
        )
    )
    app.state.task_pages = TaskPages()
    return app
