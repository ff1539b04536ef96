"""The BOLA matrix, built from the four OpenAPI documents: authorization is checked on
every object, every time.

Each app runs in-process (SQLite, in-memory bus) with the objects of an owner (a team,
role, member, invitation, project, task, comment, notification) and an outsider: a
signed-in user who leads a team of their own, so has every permission there, but is not
in the owner's (at notify, a teammate: a notification is its user's alone). Every
operation of ``app.openapi()`` that names an object by id, in its path or a query
parameter, is called as the outsider with the owner's ids (and, where a path has several
ids, with the outsider's own team and the owner's object in it), with a valid body where
it takes one. Each must answer 404 problem+json carrying nothing but the problem, and
leave everything the owner reads unchanged. The owner reads through the same ids with
2xx and sees each id, so wrong ids fail the test instead of hiding a leak. And every
operation whose body names objects (a ``*_id`` field) is called by the outsider in its
own team with the owner's ids there: refused exactly as made-up ids are.
A route added later is in the matrix by itself; one the tables below lack fails.
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi import FastAPI
from schemathesis.python import asgi
from taskflow_chassis.testing import TestTokens
from taskflow_contracts import teams, work

from .conftest import FIGURES
from .inprocess import (
    auth_app,
    call,
    member_joined,
    notify_app,
    on_app_loop,
    person_signed_up,
    publish,
    send,
    signed_in,
    team_with_a_task,
    teams_app,
    work_app,
)

PROBLEM = "application/problem+json"
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance", "correlation_id"}
OBJECT_ID = re.compile(r"\{(\w+_id)\}")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}

Ids = dict[str, str]

# A valid body for each id-bearing operation that takes one, so the outsider's 404 can
# only be the authorization's (a bad body would be a 422). An operation with a body and
# no entry here fails the test: a new route is never skipped in silence.
BODIES: dict[str, Callable[[Ids], dict[str, Any]]] = {
    "PATCH /api/v1/teams/{team_id}": lambda ids: {"name": "Taken over"},
    "PATCH /api/v1/teams/{team_id}/members/{user_id}": lambda ids: {"role_id": ids["role_id"]},
    "POST /api/v1/teams/{team_id}/roles": lambda ids: {"name": "Intruder", "permissions": []},
    "PATCH /api/v1/teams/{team_id}/roles/{role_id}": lambda ids: {"name": "Renamed"},
    "POST /api/v1/teams/{team_id}/invitations": lambda ids: {
        "email": "accomplice@example.com",
        "role_id": ids["role_id"],
    },
    "PATCH /api/v1/projects/{project_id}": lambda ids: {"name": "Taken over"},
    "POST /api/v1/projects/{project_id}/tasks": lambda ids: {"title": "Planted"},
    "PATCH /api/v1/tasks/{task_id}": lambda ids: {"title": "Taken over"},
    "POST /api/v1/tasks/{task_id}/assignees": lambda ids: {"user_id": ids["outsider_id"]},
    "POST /api/v1/tasks/{task_id}/comments": lambda ids: {"body": "Planted"},
    "PATCH /api/v1/comments/{comment_id}": lambda ids: {"body": "Rewritten"},
    "POST /api/v1/teams/{team_id}/webhooks": lambda ids: {"url": HOOK_URL, "event_types": ["*"]},
    "PATCH /api/v1/teams/{team_id}/webhooks/{webhook_id}": lambda ids: {"description": "Mine"},
}

# Operations naming an object by id that may answer something other than 404 to an
# outsider, each with its reason. None: every route about the caller's own account is
# under /me, with no id in its path.
EXCEPTIONS: dict[str, tuple[int, str]] = {}

# Operations whose body names an object: the outsider, acting in its own team, names the
# owner's. Each must be refused exactly as a made-up id is (so the answer tells nothing).
BODY_REFERENCES: dict[str, list[tuple[str, Callable[[Ids], dict[str, Any]]]]] = {
    "auth": [
        (
            "POST /api/v1/tokens",
            lambda owner: {
                "name": "Planted",
                "scopes": ["tasks.read"],
                "expires_in_days": 1,
                "team_id": owner["team_id"],
            },
        ),
    ],
    "teams": [
        (
            "POST /api/v1/teams/{team_id}/invitations",
            lambda owner: {"email": "accomplice@example.com", "role_id": owner["role_id"]},
        ),
        (
            "PATCH /api/v1/teams/{team_id}/members/{user_id}",
            lambda owner: {"role_id": owner["role_id"]},
        ),
    ],
    "work": [
        ("POST /api/v1/projects", lambda owner: {"team_id": owner["team_id"], "name": "Planted"}),
        ("POST /api/v1/tasks/{task_id}/assignees", lambda owner: {"user_id": owner["user_id"]}),
        (
            "POST /api/v1/projects/{project_id}/tasks",
            lambda owner: {"title": "Planted", "assignee_ids": [owner["user_id"]]},
        ),
        (
            "POST /api/v1/tasks/bulk",
            lambda owner: {"task_ids": [owner["task_id"]], "changes": {"status": "done"}},
        ),
    ],
}


@dataclass
class World:
    """An app, its owner's objects, and an outsider."""

    app: FastAPI
    owner: dict[str, str]
    outsider: dict[str, str]
    ids: Ids
    own_ids: Ids = field(default_factory=dict)  # the outsider's own objects
    owner_reads: list[str] = field(default_factory=list)  # besides the GETs by id


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    try:
        yield f"sqlite+aiosqlite:///{tmp_path / 'bola.db'}"
    finally:
        asgi.shutdown_lifespans()


def auth_world(tmp: Path, database: str) -> World:
    """The owner's personal API token (revoking it is the one operation naming an id)."""
    app, owner, ids = auth_app(tmp, database)
    team_id = str(uuid.uuid4())  # a team of the owner's (auth knows no teams)
    token = {"name": "Owner's", "scopes": ["tasks.read"], "expires_in_days": 1, "team_id": team_id}
    token_id = call(app, "POST", "/api/v1/tokens", owner, json=token)["id"]
    ids = {**ids, "token_id": token_id, "team_id": team_id}
    return World(app, owner, signed_in(app), ids, owner_reads=["/api/v1/tokens"])


def teams_world(tmp: Path, database: str) -> World:
    """The owner's team with a role of its own (deletable, so a leak would show), a
    developer who joined by invitation, and a pending invitation."""
    tokens, outsider_id = TestTokens(), uuid.uuid4()
    app, owner, ids = teams_app(tmp, database, tokens)
    team_id = ids["team_id"]
    role = call(app, "POST", f"/api/v1/teams/{team_id}/roles", owner, json={"name": "Auditor"})
    developer = joined_by_invitation(app, tokens, owner, team_id, ids["role_id"], "developer")
    outsider = tokens.headers(outsider_id)
    person_signed_up(app, outsider_id, "outsider")
    own_team = call(app, "POST", "/api/v1/teams", outsider, json={"name": "Outsider's"})
    ids = {**ids, "role_id": role["id"], "user_id": str(developer)}
    own = {"team_id": own_team["id"], "user_id": str(outsider_id)}
    return World(app, owner, outsider, {**ids, "outsider_id": str(outsider_id)}, own)


def joined_by_invitation(
    app: FastAPI, tokens: TestTokens, leader: dict[str, str], team_id: str, role_id: str, name: str
) -> uuid.UUID:
    """A new member of the team, who accepted the link of the invitation teams published."""
    user_id, sent = uuid.uuid4(), []
    person_signed_up(app, user_id, name)

    async def observe() -> None:
        async def record(event: Any) -> None:
            sent.append(event)

        await app.state.bus.subscribe(f"bola-{name}", ["taskflow.teams.invitation.#"], record)

    async def deliver() -> None:
        await app.state.relay.publish_pending()
        await app.state.bus.drain()

    on_app_loop(observe)
    email = f"{name}@example.com"
    invited = {"email": email, "role_id": role_id}
    call(app, "POST", f"/api/v1/teams/{team_id}/invitations", leader, json=invited)
    on_app_loop(deliver)
    [url] = [event.data["accept_url"] for event in sent if event.data["email"] == email]
    token = parse_qs(urlsplit(url).query)["token"][0]
    accept = {"token": token}
    call(app, "POST", "/api/v1/invitations/accept", tokens.headers(user_id), json=accept)
    return user_id


def work_world(tmp: Path, database: str) -> World:
    tokens, outsider_id = TestTokens(), uuid.uuid4()
    app, owner, ids = work_app(tmp, database, tokens)
    # An assignee, so that unassigning has something to take away.
    call(
        app,
        "POST",
        f"/api/v1/tasks/{ids['task_id']}/assignees",
        owner,
        json={"user_id": ids["user_id"]},
    )
    outsider = tokens.headers(outsider_id)
    own = team_with_a_task(app, outsider, outsider_id)
    return World(app, owner, outsider, {**ids, "outsider_id": str(outsider_id)}, own)


def notify_world(tmp: Path, database: str) -> World:
    tokens, owner_id, outsider_id = TestTokens(), uuid.uuid4(), uuid.uuid4()
    app, _, ids = notify_app(tmp, database, tokens)
    owner, outsider = tokens.headers(owner_id), tokens.headers(outsider_id)
    call(app, "GET", "/healthz", {})
    team_id = uuid.uuid4()
    for user_id, name in ((owner_id, "owner"), (outsider_id, "outsider")):
        person_signed_up(app, user_id, name)
        member_joined(app, team_id, user_id, "Developer")
    assigned = work.TaskAssigned(
        task_id=uuid.uuid4(),
        project_id=uuid.uuid4(),
        team_id=team_id,
        title="Owner's task",
        due_at=datetime(2030, 1, 1, tzinfo=UTC),
        assignee_id=owner_id,
        assigned_by=outsider_id,
    )
    publish(app, "/taskflow/work", assigned)
    [notification] = call(app, "GET", "/api/v1/notifications", owner)["items"]
    ids = {**ids, "notification_id": notification["id"], "user_id": str(owner_id)}
    ids.update(owner_webhook(app, owner, owner_id, outsider_id))
    reads = ["/api/v1/notifications", f"/api/v1/teams/{ids['team_id']}/webhooks"]
    return World(app, owner, outsider, ids, owner_reads=reads)


# A documentation address (TEST-NET-3), let through for these apps alone: registering an
# endpoint resolves nothing, and a delivery's attempt reaches no one.
HOOK_URL = "https://203.0.113.10/hook"


def owner_webhook(
    app: FastAPI, owner: dict[str, str], owner_id: uuid.UUID, outsider_id: uuid.UUID
) -> Ids:
    """A team the owner leads with a webhook and one delivery; the outsider leads a team
    of its own (it holds webhooks.manage, just not in the owner's team)."""
    app.state.webhook_poster.allowed_networks = (ipaddress.ip_network("203.0.113.0/24"),)
    team_id, own_team = uuid.uuid4(), uuid.uuid4()
    member_joined(app, team_id, owner_id, "Team Leader")
    member_joined(app, own_team, outsider_id, "Team Leader")
    base = f"/api/v1/teams/{team_id}/webhooks"
    hook = call(app, "POST", base, owner, json={"url": HOOK_URL, "event_types": ["*"]})
    publish(app, "/taskflow/teams", teams.TeamUpdated(team_id=team_id, name="Owner's"))
    [delivery] = call(app, "GET", f"{base}/{hook['id']}/deliveries", owner)["items"]
    return {"team_id": str(team_id), "webhook_id": hook["id"], "delivery_id": delivery["id"]}


@dataclass
class Operation:
    method: str
    path: str
    in_path: list[str]  # the objects its path names
    in_query: list[str]  # the objects its query parameters name
    has_body: bool

    @property
    def key(self) -> str:
        return f"{self.method} {self.path}"


def id_bearing_operations(app: FastAPI) -> list[Operation]:
    """Every operation of the app's OpenAPI document that names an object by id, in its
    path or in a query parameter."""
    operations = []
    for path, item in app.openapi()["paths"].items():
        for method, spec in item.items():
            in_path = OBJECT_ID.findall(path)
            in_query = [
                parameter["name"]
                for parameter in spec.get("parameters", [])
                if parameter["in"] == "query" and parameter["name"].endswith("_id")
            ]
            if in_path or in_query:
                has_body = "requestBody" in spec
                operations.append(Operation(method.upper(), path, in_path, in_query, has_body))
    return operations


def urls(operation: Operation, ids: Ids, own_ids: Ids | None = None) -> list[tuple[str, Ids]]:
    """Where to call an operation, and with which ids: the owner's in the path; each object
    query parameter alone with the owner's id; and given ``own_ids``, for each id of a
    path naming several that the outsider has of its own, that one with the owner's
    others (a parent the outsider may act in, holding the owner's child)."""
    path = operation.path.format(**ids)
    found = [] if operation.in_query and not operation.in_path else [(path, ids)]
    found += [(f"{path}?{urlencode({name: ids[name]})}", ids) for name in operation.in_query]
    if own_ids and len(operation.in_path) > 1:
        for name in operation.in_path:
            if name in own_ids:
                mixed = {**ids, name: own_ids[name]}
                found.append((operation.path.format(**mixed), mixed))
    return found


def owner_view(world: World, reads: list[str]) -> dict[str, tuple[int, Any]]:
    """What the owner reads through the ids: each answer's status and document."""
    view = {}
    for path in reads:
        response = send(world.app, "GET", path, world.owner)
        view[path] = (response.status_code, response.json())
    return view


def refused_to_outsider(world: World, operation: Operation, url: str, ids: Ids) -> str | None:
    """What was wrong with the outsider's call, if anything."""
    body = BODIES[operation.key](ids) if operation.has_body else None
    response = send(world.app, operation.method, url, world.outsider, json=body)
    expected, _ = EXCEPTIONS.get(operation.key, (404, ""))
    where = f"{operation.method} {url}"
    if response.status_code != expected:
        return f"{where}: {response.status_code} {response.text[:200]}"
    document = response.json()
    if (
        response.headers["content-type"] != PROBLEM
        or document.get("status") != expected
        or not set(document) <= PROBLEM_FIELDS
    ):
        return f"{where}: not a bare problem document: {response.text[:200]}"
    return None


def bola_matrix(service: str, world: World) -> None:
    operations = id_bearing_operations(world.app)
    missing = [op.key for op in operations if op.has_body and op.key not in BODIES]
    assert missing == [], f"no body in BODIES for {missing}: add a minimal valid one"
    # The positive control: the owner reads every object through the same ids, and sees
    # each id it names (so a wrong id fails the test, not hides a leak).
    reads = [url for op in operations if op.method == "GET" for url, _ in urls(op, world.ids)]
    before = owner_view(world, reads + world.owner_reads)
    assert {path: status for path, (status, _) in before.items() if status >= 300} == {}
    seen = json.dumps(before)
    for name in {name for op in operations for name in op.in_path + op.in_query}:
        assert world.ids[name] in seen, f"{service}: the owner does not see its {name}"

    failures, checked, calls = [], set(), 0
    for operation in operations:
        for url, ids in urls(operation, world.ids, world.own_ids):
            failure = refused_to_outsider(world, operation, url, ids)
            if failure:
                failures.append(failure)
            if operation.method in WRITES:
                after = owner_view(world, reads + world.owner_reads)
                if after != before:
                    changed = [path for path in after if after[path] != before[path]]
                    failures.append(
                        f"{operation.method} {url} changed what the owner reads at {changed}"
                    )
                    before = after
            calls += 1
            checked.add(operation.key)
    references = BODY_REFERENCES.get(service, [])
    for key, body in references:
        failure = refused_as_made_up(world, key, body)
        if failure:
            failures.append(failure)
        after = owner_view(world, reads + world.owner_reads)
        if after != before:
            failures.append(f"{key} naming the owner's objects changed the owner's data")
            before = after
    assert failures == []
    # Every operation with a body naming objects is in BODY_REFERENCES, none skipped.
    assert {key for key, _ in references} == documented_with_ids_in_body(world.app)
    # Nothing skipped: every operation of the document with a parameter in its path or
    # one naming an object (counted apart from the matrix, from the parameters alone).
    assert checked == documented_with_ids(world.app)
    FIGURES.append(
        f"BOLA matrix: {service} {len(checked)} operations x outsider: {calls} calls x 404,"
        f" {len(references)} bodies naming the owner's objects refused like made-up ids,"
        f" owner reads {len(before)} x 2xx"
    )


def documented_with_ids(app: FastAPI) -> set[str]:
    return {
        f"{method.upper()} {path}"
        for path, item in app.openapi()["paths"].items()
        for method, spec in item.items()
        for parameter in spec.get("parameters", [])
        if parameter["in"] == "path" or parameter["name"].endswith("_id")
    }


# Body references answered alike whatever the id, with this status rather than refused:
# auth keeps no memberships, so a personal API token restricted to any team is made (201),
# and is then a non-member (404) of a team its owner is not in, at every service.
ANSWERED_ALIKE = {"POST /api/v1/tokens": 201}


def refused_as_made_up(world: World, key: str, body: Callable[[Ids], Any]) -> str | None:
    """What was wrong with the outsider's call, in its own team, naming the owner's
    objects in the body, if anything."""
    method, template = key.split(" ", 1)
    path = template.format(**world.own_ids)
    made_up = {name: str(uuid.uuid4()) for name in world.ids}
    answers = []
    for ids in (world.ids, made_up):
        response = send(world.app, method, path, world.outsider, json=body(ids))
        document = response.json()
        detail = str(document.get("detail", ""))
        for value in ids.values():
            detail = detail.replace(value, "<id>")
        answers.append((response.status_code, document.get("type"), detail))
    expected = ANSWERED_ALIKE.get(key)
    refused = answers[0][0] == expected if expected else 400 <= answers[0][0] < 500
    if not refused or answers[0] != answers[1]:
        return f"{key}: the owner's ids {answers[0]}, made-up ones {answers[1]}"
    return None


def documented_with_ids_in_body(app: FastAPI) -> set[str]:
    """The operations whose request body has a field naming objects (``*_id``, ``*_ids``)."""
    document = app.openapi()
    schemas = document.get("components", {}).get("schemas", {})
    found = set()
    for path, item in document["paths"].items():
        for method, spec in item.items():
            content = spec.get("requestBody", {}).get("content", {})
            for media in content.values():
                schema = media["schema"]
                schema = schemas.get(schema.get("$ref", "").rsplit("/", 1)[-1], schema)
                if any(re.search(r"_ids?$", name) for name in schema.get("properties", {})):
                    found.add(f"{method.upper()} {path}")
    return found


def test_auth(tmp_path: Path, database: str) -> None:
    bola_matrix("auth", auth_world(tmp_path, database))


def test_teams(tmp_path: Path, database: str) -> None:
    bola_matrix("teams", teams_world(tmp_path, database))


def test_work(tmp_path: Path, database: str) -> None:
    bola_matrix("work", work_world(tmp_path, database))


def test_notify(tmp_path: Path, database: str) -> None:
    bola_matrix("notify", notify_world(tmp_path, database))
