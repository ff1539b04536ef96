"""The four apps in-process, each seeded with real objects, for the tests that read the
OpenAPI documents (the fuzz and the BOLA matrix).

Each app runs on schemathesis' ASGI client, which starts its lifespan once and keeps it
until ``asgi.shutdown_lifespans()``; events from the other services are played straight
into its in-memory bus. Services other than auth trust ``TestTokens``.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import requests
from fastapi import FastAPI
from schemathesis.python import asgi
from taskflow_auth.app import create_app as create_auth
from taskflow_auth.config import AuthSettings
from taskflow_chassis.events import new_event
from taskflow_chassis.testing import TestTokens
from taskflow_contracts import auth, teams
from taskflow_contracts.permissions import BUILT_IN_ROLES
from taskflow_notify.app import create_app as create_notify
from taskflow_notify.config import NotifySettings
from taskflow_teams.app import create_app as create_teams
from taskflow_teams.config import TeamsSettings
from taskflow_work.app import create_app as create_work
from taskflow_work.config import WorkSettings

PASSWORD = "correct-horse-battery"
_accounts = itertools.count(1)

# What a seeded app comes with: the caller's headers, and the ids of what it owns.
Seeded = tuple[FastAPI, dict[str, str], dict[str, str]]


def common(tmp: Path, name: str, database: str) -> dict[str, Any]:
    return {
        "data_dir": tmp,
        "database_url": database,
        "event_bus_url": f"memory://fuzz-{name}-{uuid.uuid4().hex[:8]}",
        "public_url": "https://taskflow.example",
        "relay_sweep_seconds": 0.2,
        "log_level": "CRITICAL",
    }


def started_without_auth(app: FastAPI) -> None:
    """Start the app's lifespan; with no auth here, nothing was revoked before it began (so
    personal API tokens need not wait for auth's list: see revocation.py)."""
    call(app, "GET", "/healthz", {})
    app.state.revocations.complete = True


def send(
    app: FastAPI, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> requests.Response:
    """One request to the app on schemathesis' own client, whatever it answers."""
    # Schemathesis types ASGI messages as dict, Starlette as MutableMapping: the same thing.
    with asgi.get_client(app) as client:  # type: ignore[arg-type]  # dict-typed ASGI messages
        response = client.request(method, f"http://testserver{path}", headers=headers, **kwargs)
    return response


def call(app: FastAPI, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
    """A request that must succeed: its JSON."""
    response = send(app, method, path, headers, **kwargs)
    assert response.status_code < 300, (path, response.text)
    return response.json() if response.content else None


def on_app_loop(work: Callable[[], Awaitable[Any]]) -> Any:
    """Runs ``work`` on the loop the apps run on (schemathesis' own): their bus and
    database belong to it."""
    return asgi._get_portal().call(work)


def publish(app: FastAPI, source: str, *payloads: Any) -> None:
    """Events from another service, played into the app, each consumed before the next."""

    async def play() -> None:
        for payload in payloads:
            await app.state.bus.publish(new_event(payload.event_type, source=source, data=payload))
            await app.state.bus.drain()

    on_app_loop(play)


def person_signed_up(app: FastAPI, user_id: uuid.UUID, name: str) -> None:
    """What auth tells the other services of an account with a verified address and a
    participant profile."""
    person = {"user_id": user_id, "username": name, "email": f"{name}@example.com"}
    publish(
        app,
        "/taskflow/auth",
        auth.UserRegistered(**person, email_verified=False),
        auth.UserUpdated(**person, email_verified=True),
        auth.ParticipantRegistered(
            **person, display_name=name.title(), phone_number="+14155552671"
        ),
    )


def member_joined(app: FastAPI, team_id: uuid.UUID, user_id: uuid.UUID, role: str) -> None:
    """What teams tells the other services of a member with a built-in role."""
    joined = teams.MemberJoined(
        team_id=team_id,
        user_id=user_id,
        role_id=uuid.uuid4(),
        role_name=role,
        permissions=sorted(BUILT_IN_ROLES[role]),
    )
    publish(app, "/taskflow/teams", joined)


def auth_app(tmp: Path, database: str) -> Seeded:
    app = create_auth(AuthSettings(**common(tmp, "auth", database)))
    return app, signed_in(app), {}


def signed_in(app: FastAPI) -> dict[str, str]:
    """A new account's headers: the fuzz logs out, changes passwords, deletes accounts."""
    name = f"fuzzer{next(_accounts)}"
    account = {"username": name, "password": PASSWORD}
    call(app, "POST", "/api/v1/auth/users", {}, json={**account, "email": f"{name}@example.com"})
    tokens = call(app, "POST", "/api/v1/auth/jwt/create", {}, json=account)
    return {"Authorization": f"Bearer {tokens['access']}"}


def teams_app(tmp: Path, database: str, tokens: TestTokens | None = None) -> Seeded:
    """A team led by the caller, with a role and a pending invitation."""
    tokens, user_id = tokens or TestTokens(), uuid.uuid4()
    settings = TeamsSettings(**common(tmp, "teams", database))
    app = create_teams(settings, jwks_fetcher=tokens.jwks)
    headers = tokens.headers(user_id)
    started_without_auth(app)
    person_signed_up(app, user_id, "fuzzer")
    team = call(app, "POST", "/api/v1/teams", headers, json={"name": "Fuzzed"})
    roles = call(app, "GET", f"/api/v1/teams/{team['id']}/roles", headers)["items"]
    role = next(role for role in roles if not role["is_leader"])
    invitation = call(
        app,
        "POST",
        f"/api/v1/teams/{team['id']}/invitations",
        headers,
        json={"email": "invitee@example.com", "role_id": role["id"]},
    )
    ids = {
        "team_id": team["id"],
        "role_id": role["id"],
        "user_id": str(user_id),
        "invitation_id": invitation["id"],
    }
    return app, headers, ids


def work_app(tmp: Path, database: str, tokens: TestTokens | None = None) -> Seeded:
    """A project of the caller's team (the caller its Team Leader), a task, a comment."""
    tokens, user_id = tokens or TestTokens(), uuid.uuid4()
    settings = WorkSettings(**common(tmp, "work", database), teams_url="http://teams.invalid")
    app = create_work(settings, jwks_fetcher=tokens.jwks)
    headers = tokens.headers(user_id)
    started_without_auth(app)
    # No teams service: the replica alone answers (teams away would be a 503).
    app.state.authorizer.teams = None
    ids = team_with_a_task(app, headers, user_id)
    comment = call(
        app, "POST", f"/api/v1/tasks/{ids['task_id']}/comments", headers, json={"body": "C"}
    )
    return app, headers, {**ids, "comment_id": comment["id"], "user_id": str(user_id)}


def team_with_a_task(app: FastAPI, headers: dict[str, str], user_id: uuid.UUID) -> dict[str, str]:
    """At work: a new team the user leads, a project of it, and a task in the project."""
    team_id = uuid.uuid4()
    member_joined(app, team_id, user_id, "Team Leader")
    project = call(
        app, "POST", "/api/v1/projects", headers, json={"team_id": str(team_id), "name": "P"}
    )
    task = call(
        app, "POST", f"/api/v1/projects/{project['id']}/tasks", headers, json={"title": "T"}
    )
    return {"team_id": str(team_id), "project_id": project["id"], "task_id": task["id"]}


def notify_app(tmp: Path, database: str, tokens: TestTokens | None = None) -> Seeded:
    tokens, user_id = tokens or TestTokens(), uuid.uuid4()
    settings = NotifySettings(
        **common(tmp, "notify", database),
        email_url=f"file://{tmp / 'mail'}",
        reminder_timer=False,
    )
    app = create_notify(settings, jwks_fetcher=tokens.jwks)
    started_without_auth(app)
    return app, tokens.headers(user_id), {}
