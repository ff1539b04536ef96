"""The teams service's composition root: its settings, handlers' dependencies and routes."""

from __future__ import annotations

from fastapi import FastAPI
from taskflow_chassis.app import ServiceSpec, create_service_app
from taskflow_chassis.security import JwksFetcher
from taskflow_chassis.serve import migrations_dir

from taskflow_teams.audit import scheduled as audit_scheduled
from taskflow_teams.audit.views import own_audit, team_audit
from taskflow_teams.config import TeamsSettings
from taskflow_teams.deps import TeamsDeps
from taskflow_teams.handlers import EVENT_HANDLERS
from taskflow_teams.internal.views import router as internal_router
from taskflow_teams.invitations.views import my_invitations, team_invitations
from taskflow_teams.permissions.views import router as permissions_router
from taskflow_teams.teams import scheduled
from taskflow_teams.teams.views import router as teams_router


def create_app(
    settings: TeamsSettings | None = None, jwks_fetcher: JwksFetcher | None = None
) -> FastAPI:
    """``jwks_fetcher`` replaces the HTTP fetch of auth's JWKS (tests)."""
    return create_service_app(
        ServiceSpec(
            name="teams",
            title="TaskFlow teams",
            description="Teams, members, roles that grant permissions, invitations, and the"
            " security audit log.",
            settings=settings or TeamsSettings(),
            routers=[
                teams_router,
                team_invitations,
                my_invitations,
                permissions_router,
                own_audit,
                team_audit,
                internal_router,
            ],
            migrations_dir=migrations_dir(__file__),
            handlers=EVENT_HANDLERS,
            handler_deps=TeamsDeps(),
            jwks_fetcher=jwks_fetcher,
            on_startup=[scheduled.start, audit_scheduled.start],
            on_shutdown=[scheduled.stop, audit_scheduled.stop],
        )
    )
