"""Personal API tokens against every operation of the four OpenAPI documents: the one scope
map (taskflow_contracts.scopes) names each operation, a scope never opens an operation it
does not name, and a token never does more than its owner's role grants, now or later.

Each app runs in-process (SQLite, in-memory bus). For every operation and every scope of
the catalogue, a token holding that scope alone (and one holding every scope but those the
operation names) is sent: where the map does not name the scope, the answer must be 403
``insufficient-scope`` before anything else runs; where it does, anything but that (and
never 401). The ids in the paths are made up and bodies empty, so an allowed call finds
nothing to change (404 or 422): what is checked is only whether the scope opened the door.
Then the permissions behind the door: a member's token holds its scopes within the role
(a role that loses a permission takes it from the token too), and a team-restricted token
is a non-member of every other team.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from fastapi import FastAPI
from schemathesis.python import asgi
from taskflow_chassis.openapi import operations
from taskflow_chassis.testing import TestTokens
from taskflow_contracts import permissions as P
from taskflow_contracts import teams
from taskflow_contracts.scopes import ANY_TOKEN, OPERATION_SCOPES, PUBLIC, SESSION

from .inprocess import (
    auth_app,
    call,
    member_joined,
    notify_app,
    publish,
    send,
    teams_app,
    work_app,
)

PATH_PARAMETER = re.compile(r"\{(\w+)\}")
INSUFFICIENT = "/problems/insufficient-scope"
# An answer that never ends (Server-Sent Events): refused or not is read from its status
# line alone, which the in-process client cannot do; tests/system/test_stream.py has it.
STREAMS = {"notifications.stream"}


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    try:
        yield f"sqlite+aiosqlite:///{tmp_path / 'scopes.db'}"
    finally:
        asgi.shutdown_lifespans()


def api_token(
    tokens: TestTokens,
    user_id: uuid.UUID | str,
    scopes: set[str] | frozenset[str],
    team_id: uuid.UUID | str | None = None,
) -> dict[str, str]:
    """Headers with a personal API token as auth signs them (``tfp_`` and an ``api`` JWT)."""
    team = str(team_id) if team_id else None
    token = tokens.access_token(uuid.UUID(str(user_id)), type="api", scp=sorted(scopes), team=team)
    return {"Authorization": f"Bearer tfp_{token}"}


def documented(app: FastAPI) -> list[tuple[str, str, str, bool]]:
    """Each operation of the app's document: id, method, path, and whether it takes a token."""
    return [
        (spec["operationId"], method.upper(), path, bool(spec.get("security")))
        for path, method, spec in operations(app.openapi())
    ]


def made_up_url(path: str) -> str:
    return PATH_PARAMETER.sub(lambda _: str(uuid.uuid4()), path)


def refused(response: Any) -> bool:
    return bool(response.status_code == 403 and response.json().get("type") == INSUFFICIENT)


def check_matrix(app: FastAPI, headers_for: Any) -> list[str]:
    """Every documented operation against a token of each single scope, and one of every
    scope but the operation's own; ``headers_for(scopes)`` gives a token's headers."""
    failures = []
    for operation_id, method, path, secured in documented(app):
        requirement = OPERATION_SCOPES.get(operation_id)
        if requirement is None:
            failures.append(f"{operation_id} ({method} {path}) has no entry in the scope map")
            continue
        if (requirement == PUBLIC) == secured:
            failures.append(f"{operation_id}: PUBLIC in the map, but secured={secured}")
        if requirement == PUBLIC:
            continue
        named = frozenset() if requirement in (SESSION, ANY_TOKEN) else frozenset(requirement)
        tries = [frozenset({scope}) for scope in sorted(P.ALL_SCOPES)]
        tries.append(P.ALL_SCOPES - named)
        for scopes in tries:
            opens = requirement == ANY_TOKEN or not scopes.isdisjoint(named)
            if opens and operation_id in STREAMS:
                continue
            body: dict[str, Any] | None = {} if method in {"POST", "PUT", "PATCH"} else None
            response = send(app, method, made_up_url(path), headers_for(scopes), json=body)
            where = f"{operation_id} with {sorted(scopes) if len(scopes) < 4 else 'the rest'}"
            if opens and (refused(response) or response.status_code == 401):
                failures.append(f"{where}: refused {response.status_code} {response.text[:160]}")
            if not opens and not refused(response):
                failures.append(f"{where}: not refused: {response.status_code}")
    return failures


def test_the_map_names_every_operation_with_known_scopes(tmp_path: Path, database: str) -> None:
    every = set()
    for app, _, _ in (
        auth_app(tmp_path / "a", database.replace("scopes", "a")),
        teams_app(tmp_path / "t", database.replace("scopes", "t")),
        work_app(tmp_path / "w", database.replace("scopes", "w")),
        notify_app(tmp_path / "n", database.replace("scopes", "n")),
    ):
        every |= {operation_id for operation_id, *_ in documented(app)}
    assert sorted(every - set(OPERATION_SCOPES)) == [], "operations the scope map lacks"
    for operation_id, requirement in OPERATION_SCOPES.items():
        if requirement not in (SESSION, ANY_TOKEN, PUBLIC):
            assert requirement and set(requirement) <= P.ALL_SCOPES, operation_id


def test_auth_scope_matrix(tmp_path: Path, database: str) -> None:
    app, session, _ = auth_app(tmp_path, database)
    issued: dict[frozenset[str], dict[str, str]] = {}

    def headers_for(scopes: frozenset[str]) -> dict[str, str]:
        if scopes not in issued:
            personal_or_not = {"name": "matrix", "scopes": sorted(scopes), "expires_in_days": 1}
            token = call(app, "POST", "/api/v1/tokens", session, json=personal_or_not)["token"]
            issued[scopes] = {"Authorization": f"Bearer {token}"}
        return issued[scopes]

    assert check_matrix(app, headers_for) == []


@pytest.mark.parametrize("service", ["teams", "work", "notify"])
def test_service_scope_matrix(service: str, tmp_path: Path, database: str) -> None:
    tokens = TestTokens()
    build = {"teams": teams_app, "work": work_app, "notify": notify_app}[service]
    app, headers, _ = build(tmp_path, database, tokens)
    user_id = jwt.decode(headers["Authorization"][7:], options={"verify_signature": False})["sub"]
    assert check_matrix(app, lambda scopes: api_token(tokens, user_id, scopes)) == []


def test_work_token_within_the_role_now_and_later(tmp_path: Path, database: str) -> None:
    tokens = TestTokens()
    app, leader, ids = work_app(tmp_path, database, tokens)
    team_id, project_id = uuid.UUID(ids["team_id"]), ids["project_id"]
    developer = uuid.uuid4()
    member_joined(app, team_id, developer, P.DEVELOPER)
    token = api_token(tokens, developer, {P.TASKS_CREATE, P.TASKS_READ, P.TASKS_DELETE})
    tasks = f"/api/v1/projects/{project_id}/tasks"
    created = send(app, "POST", tasks, token, json={"title": "By token"})
    assert created.status_code == 201, created.text
    # In scope but not the role's: the member's 403, not the scope's.
    deleted = send(app, "DELETE", f"/api/v1/tasks/{created.json()['id']}", token)
    assert deleted.status_code == 403 and deleted.json()["type"].endswith("/permission-required")
    # The role's but not in scope: the scope's 403.
    moved = send(app, "PATCH", f"/api/v1/tasks/{created.json()['id']}", token, json={"title": "X"})
    assert refused(moved)
    # The role loses tasks.create: so does the token, at once.
    publish(
        app,
        "/taskflow/teams",
        teams.MemberRoleChanged(
            team_id=team_id,
            user_id=developer,
            role_id=uuid.uuid4(),
            role_name=P.VIEWER,
            permissions=[],
        ),
    )
    again = send(app, "POST", tasks, token, json={"title": "Again"})
    assert again.status_code == 403 and again.json()["type"].endswith("/permission-required")
    assert send(app, "GET", f"/api/v1/tasks/{created.json()['id']}", token).status_code == 200
    # A leader's token with tasks.update may not move a task into done (tasks.review).
    leader_id = jwt.decode(leader["Authorization"][7:], options={"verify_signature": False})["sub"]
    update_only = api_token(tokens, leader_id, {P.TASKS_UPDATE})
    done = send(
        app, "PATCH", f"/api/v1/tasks/{ids['task_id']}", update_only, json={"status": "done"}
    )
    assert done.status_code == 403 and done.json()["type"].endswith("/permission-required"), (
        done.text
    )
    review = api_token(tokens, leader_id, {P.TASKS_UPDATE, P.TASKS_REVIEW})
    done = send(app, "PATCH", f"/api/v1/tasks/{ids['task_id']}", review, json={"status": "done"})
    assert done.status_code == 200, done.text


def test_work_team_restricted_token_is_a_stranger_elsewhere(tmp_path: Path, database: str) -> None:
    tokens = TestTokens()
    app, leader, ids = work_app(tmp_path, database, tokens)
    leader_id = jwt.decode(leader["Authorization"][7:], options={"verify_signature": False})["sub"]
    other_team = uuid.uuid4()
    member_joined(app, other_team, uuid.UUID(leader_id), P.TEAM_LEADER)
    other = call(
        app, "POST", "/api/v1/projects", leader, json={"team_id": str(other_team), "name": "O"}
    )
    scopes = {P.PROJECTS_READ, P.TASKS_READ, P.PROJECTS_CREATE}
    token = api_token(tokens, leader_id, scopes, team_id=other_team)
    assert send(app, "GET", f"/api/v1/projects/{other['id']}", token).status_code == 200
    hidden = send(app, "GET", f"/api/v1/projects/{ids['project_id']}", token)
    assert hidden.status_code == 404
    assert send(app, "GET", f"/api/v1/tasks/{ids['task_id']}", token).status_code == 404
    listed = send(app, "GET", "/api/v1/projects", token).json()["items"]
    assert [p["id"] for p in listed] == [other["id"]]
    asked = send(app, "GET", f"/api/v1/projects?team_id={ids['team_id']}", token)
    assert asked.status_code == 404
    planted = send(
        app, "POST", "/api/v1/projects", token, json={"team_id": ids["team_id"], "name": "P"}
    )
    assert planted.status_code == 404


def test_teams_token_within_the_role_and_its_team(tmp_path: Path, database: str) -> None:
    tokens = TestTokens()
    app, _, ids = teams_app(tmp_path, database, tokens)
    team_id, leader_id = ids["team_id"], ids["user_id"]
    read_only = api_token(tokens, leader_id, {P.TEAMS_READ})
    assert send(app, "GET", f"/api/v1/teams/{team_id}", read_only).status_code == 200
    assert refused(send(app, "PATCH", f"/api/v1/teams/{team_id}", read_only, json={"name": "N"}))
    # Inviting with a role granting what the token lacks is refused, as for a member
    # lacking it: the token's permissions are the role's within its scopes.
    inviter = api_token(tokens, leader_id, {P.MEMBERS_INVITE, P.TEAMS_READ})
    roles = call(app, "GET", f"/api/v1/teams/{team_id}/roles", inviter)["items"]
    leader_role = next(role for role in roles if role["is_leader"])
    invite = {"email": "friend@example.com", "role_id": leader_role["id"]}
    answer = send(app, "POST", f"/api/v1/teams/{team_id}/invitations", inviter, json=invite)
    assert answer.status_code == 403, answer.text
    elsewhere = api_token(tokens, leader_id, {P.TEAMS_READ}, team_id=uuid.uuid4())
    assert send(app, "GET", f"/api/v1/teams/{team_id}", elsewhere).status_code == 404
    assert send(app, "GET", f"/api/v1/teams/{team_id}/members/me", elsewhere).status_code == 404
    assert call(app, "GET", "/api/v1/teams", elsewhere)["items"] == []
    mine = api_token(tokens, leader_id, {P.TEAMS_READ}, team_id=team_id)
    assert [t["id"] for t in call(app, "GET", "/api/v1/teams", mine)["items"]] == [team_id]
