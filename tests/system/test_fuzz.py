"""Property-based fuzz of the four OpenAPI documents (schemathesis), each app in-process.

Every operation of each service is called with generated input, valid and invalid,
signed in with a test token (auth: an account of its own); every answer must be
below 500, have a status its operation documents, and match the documented media
type and schema. On SQLite and on PostgreSQL (which refuses NUL and checks ranges),
with the in-memory bus; deterministic (derandomized, a fixed number of examples per
operation).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from taskflow_auth.app import create_app as create_auth
from taskflow_auth.config import AuthSettings
from taskflow_chassis.events import new_event
from taskflow_chassis.testing import TestTokens, fresh_postgres_database
from taskflow_contracts import auth, teams
from taskflow_contracts.permissions import BUILT_IN_ROLES
from taskflow_notify.app import create_app as create_notify
from taskflow_notify.config import NotifySettings
from taskflow_teams.app import create_app as create_teams
from taskflow_teams.config import TeamsSettings
from taskflow_work.app import create_app as create_work
from taskflow_work.config import WorkSettings

# Examples per operation: the four services in well under two minutes on two cores.
EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
PASSWORD = "correct-horse-battery"
_accounts = itertools.count(1)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite, and PostgreSQL: the stricter (no NUL in text, ranges checked). The apps
    schemathesis started are stopped before their database goes, not at exit."""
    if request.param == "sqlite":
        try:
            yield f"sqlite+aiosqlite:///{tmp_path / 'fuzz.db'}"
        finally:
            asgi.shutdown_lifespans()
        return
    loop = asyncio.new_event_loop()
    fresh = fresh_postgres_database("taskflow_fuzz")
    try:
        yield loop.run_until_complete(fresh.__aenter__())
    finally:
        asgi.shutdown_lifespans()
        loop.run_until_complete(fresh.__aexit__(None, None, None))
        loop.close()


def common(tmp: Path, name: str, database: str) -> dict[str, Any]:
    return {
        "data_dir": tmp,
        "database_url": database,
        "event_bus_url": f"memory://fuzz-{name}-{uuid.uuid4().hex[:8]}",
        "public_url": "https://taskflow.example",
        "relay_sweep_seconds": 0.2,
        "log_level": "CRITICAL",
    }


# What an app under fuzz comes with: the caller's headers, and the ids of what it owns,
# put into the path of every operation that takes them (random ids would only meet 404).
Seeded = tuple[FastAPI, dict[str, str], dict[str, str]]


def call(app: FastAPI, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
    """One request to the app on schemathesis' own client, which starts the app's
    lifespan and keeps it for the session."""
    with asgi.get_client(app) as client:  # type: ignore[arg-type]
        response = client.request(method, f"http://testserver{path}", headers=headers, **kwargs)
    assert response.status_code < 300, (path, response.text)
    return response.json() if response.content else None


def publish(app: FastAPI, source: str, *payloads: Any) -> None:
    """Events from another service, played into the app on the loop it runs on
    (schemathesis' own), each consumed before the next."""

    async def play() -> None:
        for payload in payloads:
            await app.state.bus.publish(new_event(payload.event_type, source=source, data=payload))
            await app.state.bus.drain()

    asgi._get_portal().call(play)


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


def still_signed_in(app: FastAPI, headers: dict[str, str]) -> None:
    """After a change at auth, sign in afresh if it ended the session (else every later
    example would only meet 401)."""
    with asgi.get_client(app) as client:  # type: ignore[arg-type]
        me = client.get("http://testserver/api/v1/auth/users/me", headers=headers)
    if me.status_code == 401:
        headers.update(signed_in(app))


def teams_app(tmp: Path, database: str) -> Seeded:
    tokens, user_id = TestTokens(), uuid.uuid4()
    settings = TeamsSettings(**common(tmp, "teams", database))
    app = create_teams(settings, jwks_fetcher=tokens.jwks)
    headers = tokens.headers(user_id)
    call(app, "GET", "/healthz", {})
    person = {"user_id": user_id, "username": "fuzzer", "email": "fuzz@example.com"}
    publish(
        app,
        "/taskflow/auth",
        auth.UserRegistered(**person, email_verified=False),
        auth.UserUpdated(**person, email_verified=True),
        auth.ParticipantRegistered(**person, display_name="Fuzzer", phone_number="+14155552671"),
    )
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


def work_app(tmp: Path, database: str) -> Seeded:
    tokens, user_id = TestTokens(), uuid.uuid4()
    settings = WorkSettings(**common(tmp, "work", database), teams_url="http://teams.invalid")
    app = create_work(settings, jwks_fetcher=tokens.jwks)
    headers = tokens.headers(user_id)
    call(app, "GET", "/healthz", {})
    # No teams service: the replica alone answers (teams away would be a 503).
    app.state.authorizer.teams = None
    team_id, role = uuid.uuid4(), "Team Leader"
    joined = teams.MemberJoined(
        team_id=team_id,
        user_id=user_id,
        role_id=uuid.uuid4(),
        role_name=role,
        permissions=sorted(BUILT_IN_ROLES[role]),
    )
    publish(app, "/taskflow/teams", joined)
    project = call(
        app, "POST", "/api/v1/projects", headers, json={"team_id": str(team_id), "name": "P"}
    )
    task = call(
        app, "POST", f"/api/v1/projects/{project['id']}/tasks", headers, json={"title": "T"}
    )
    comment = call(app, "POST", f"/api/v1/tasks/{task['id']}/comments", headers, json={"body": "C"})
    ids = {
        "team_id": str(team_id),
        "project_id": project["id"],
        "task_id": task["id"],
        "comment_id": comment["id"],
        "user_id": str(user_id),
    }
    return app, headers, ids


def notify_app(tmp: Path, database: str) -> Seeded:
    tokens, user_id = TestTokens(), uuid.uuid4()
    settings = NotifySettings(
        **common(tmp, "notify", database),
        email_url=f"file://{tmp / 'mail'}",
        reminder_timer=False,
    )
    return create_notify(settings, jwks_fetcher=tokens.jwks), tokens.headers(user_id), {}


def fuzz(service: str, app: FastAPI, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    """Every operation, positive and negative examples, and positive ones with the seeded
    ids in the path: what failed, one line each."""
    schema = schemathesis.openapi.from_asgi(f"/openapi/{service}.json", app)
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]
        where = f"{operation.method.upper()} {operation.path}"
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        ]
        known = {key: value for key, value in ids.items() if f"{{{key}}}" in operation.path}
        if known:
            strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=known))
        strategy = st.one_of(*strategies)

        @settings(
            max_examples=EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def examples(case: Any) -> None:
            try:
                response = case.call_and_validate(headers=headers, checks=CHECKS)
                statuses[response.status_code] += 1
                if service == "auth" and case.method != "GET" and response.status_code < 300:
                    still_signed_in(app, headers)
            except (Exception, BaseExceptionGroup) as exc:  # every failure, not the first
                summary = " ".join(str(exc).split())[:300]
                failures.append(f"{where}: {summary}")  # noqa: B023 - called at once below

        examples()
    # Proof the fuzz reached the routes: many calls, and more than refusals alone.
    assert sum(statuses.values()) >= EXAMPLES, statuses
    assert any(status < 300 for status in statuses), statuses
    print(service, sorted(statuses.items()))
    return failures


def test_auth(tmp_path: Path, database: str) -> None:
    assert fuzz("auth", *auth_app(tmp_path, database)) == []


def test_teams(tmp_path: Path, database: str) -> None:
    assert fuzz("teams", *teams_app(tmp_path, database)) == []


def test_work(tmp_path: Path, database: str) -> None:
    assert fuzz("work", *work_app(tmp_path, database)) == []


def test_notify(tmp_path: Path, database: str) -> None:
    assert fuzz("notify", *notify_app(tmp_path, database)) == []
