"""Idempotency-Key over the four services: every POST of the four OpenAPI documents
documents the header (or why it ignores it), and a POST retried with the same key answers
the first answer and makes one object (a participant, a team, an invitation, a project, a
task, a comment). Each app in-process on SQLite, seeded; the chassis' own tests hold the
rules on SQLite and PostgreSQL (libs/chassis/tests/test_idempotency.py)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from schemathesis.python import asgi
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from taskflow_auth import app as auth_module
from taskflow_chassis.db import Database
from taskflow_chassis.idempotency import HEADER, NOT_IDEMPOTENT, REPLAYED_HEADER
from taskflow_chassis.migrations import migrate_to
from taskflow_chassis.serve import migrations_dir
from taskflow_chassis.testing import fresh_database
from taskflow_notify import app as notify_module
from taskflow_teams import app as teams_module
from taskflow_work import app as work_module

from .inprocess import Seeded, auth_app, call, notify_app, send, teams_app, work_app

APPS: dict[str, Callable[[Path, str], Seeded]] = {
    "auth": auth_app,
    "teams": teams_app,
    "work": work_app,
    "notify": notify_app,
}


# The services whose routes an opt-out's resource names (auth's unless listed here).
OPT_OUT_OWNERS = {"webhooks": "notify"}


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    try:
        yield f"sqlite+aiosqlite:///{tmp_path / 'idempotency.db'}"
    finally:
        asgi.shutdown_lifespans()


def posts(app: FastAPI, service: str) -> list[tuple[str, dict[str, Any]]]:
    schema: dict[str, Any] = send(app, "GET", f"/openapi/{service}.json", {}).json()
    return [(path, item["post"]) for path, item in schema["paths"].items() if "post" in item]


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_post_documents_the_header(service: str, tmp_path: Path, database: str) -> None:
    app, _, _ = APPS[service](tmp_path, database)
    operations = posts(app, service)
    assert operations, service
    ids = set()
    for path, operation in operations:
        ids.add(operation["operationId"])
        (header,) = [p for p in operation.get("parameters", []) if p["name"] == HEADER]
        assert header["in"] == "header" and header["required"] is False, path
        if operation["operationId"] in NOT_IDEMPOTENT:
            assert header["description"].startswith("Ignored by this route"), path
        else:
            assert {"409", "422"} <= set(operation["responses"]), path
    # Every opt-out names a real route of the service that owns it.
    owned = {op for op in NOT_IDEMPOTENT if OPT_OUT_OWNERS.get(op.split(".")[0], "auth") == service}
    assert owned <= ids


def twice(
    app: FastAPI, path: str, headers: dict[str, str], body: dict[str, Any]
) -> tuple[Any, Any]:
    """The same POST sent twice with one key: both answers."""
    keyed = {**headers, HEADER: str(uuid.uuid4())}
    first = send(app, "POST", path, keyed, json=body)
    again = send(app, "POST", path, keyed, json=body)
    assert first.status_code < 300, first.text
    assert again.status_code == first.status_code
    assert again.headers.get(REPLAYED_HEADER) == "true"
    assert REPLAYED_HEADER not in first.headers
    assert again.content == first.content
    changed = send(app, "POST", path, keyed, json={**body, "unexpected": 1})
    assert changed.status_code == 422
    assert changed.json()["type"].endswith("/idempotency-key-reused")
    return first.json() if first.content else None, again


def test_a_retried_post_makes_one_object_in_each_service(tmp_path: Path, database: str) -> None:
    app, headers, ids = teams_app(tmp_path, database.replace(".db", "-teams.db"))
    team, _ = twice(app, "/api/v1/teams", headers, {"name": "Once"})
    mine = call(app, "GET", "/api/v1/teams", headers)["items"]
    assert [t["name"] for t in mine].count("Once") == 1
    invitations = f"/api/v1/teams/{ids['team_id']}/invitations"
    invitation, _ = twice(
        app, invitations, headers, {"email": "once@example.com", "role_id": ids["role_id"]}
    )
    listed = call(app, "GET", invitations, headers)["items"]
    assert [i["id"] for i in listed if i["email"] == "once@example.com"] == [invitation["id"]]
    assert team["id"] != ids["team_id"]

    app, headers, ids = work_app(tmp_path, database.replace(".db", "-work.db"))
    task, _ = twice(app, f"/api/v1/projects/{ids['project_id']}/tasks", headers, {"title": "T1"})
    tasks = call(app, "GET", f"/api/v1/tasks?project_id={ids['project_id']}", headers)["items"]
    assert [t["id"] for t in tasks if t["title"] == "T1"] == [task["id"]]
    comments = f"/api/v1/tasks/{ids['task_id']}/comments"
    comment, _ = twice(app, comments, headers, {"body": "Once"})
    listed = call(app, "GET", comments, headers)["items"]
    assert [c["id"] for c in listed if c["body"] == "Once"] == [comment["id"]]

    app, headers, _ = auth_app(tmp_path, database.replace(".db", "-auth.db"))
    participant, _ = twice(
        app, "/api/v1/participants/register", headers, {"phone_number": "+14155552671"}
    )
    assert (
        call(app, "GET", "/api/v1/participants/me", headers)["user_id"] == (participant["user_id"])
    )

    app, headers, _ = notify_app(tmp_path, database.replace(".db", "-notify.db"))
    twice(app, "/api/v1/notifications/read-all", headers, {})


def test_log_in_is_never_replayed(tmp_path: Path, database: str) -> None:
    app, _, _ = auth_app(tmp_path, database)
    account = {"username": "once", "password": "correct-horse-battery"}
    call(app, "POST", "/api/v1/auth/users", {}, json={**account, "email": "once@example.com"})
    keyed = {HEADER: "one-key"}
    first = call(app, "POST", "/api/v1/auth/jwt/create", keyed, json=account)
    again = send(app, "POST", "/api/v1/auth/jwt/create", keyed, json=account)
    assert again.status_code == 200 and REPLAYED_HEADER not in again.headers
    assert again.json()["refresh"] != first["refresh"]


# Each service's migration that makes the table: (its module, its revision, the one before).
MIGRATIONS: dict[str, tuple[Any, str, str]] = {
    "auth": (auth_module, "0004", "0003"),
    "teams": (teams_module, "0005", "0004"),
    "work": (work_module, "0005", "0004"),
    "notify": (notify_module, "0005", "0004"),
}


@pytest.mark.parametrize("kind", ["sqlite", "postgres", "mysql"])
async def test_each_service_migrates_the_table_up_and_down(kind: str, tmp_path: Path) -> None:
    def tables(connection: Connection) -> dict[str, list[str]]:
        inspector = inspect(connection)
        found = set(inspector.get_table_names())
        if "idempotency_keys" not in found:
            return {}
        return {
            "columns": sorted(c["name"] for c in inspector.get_columns("idempotency_keys")),
            "indexes": sorted(str(i["name"]) for i in inspector.get_indexes("idempotency_keys")),
        }

    for service, (module, revision, before) in MIGRATIONS.items():
        async with fresh_database(kind, tmp_path, f"taskflow_{service}_idempotency") as url:
            database = Database(url)
            try:
                scripts = migrations_dir(module.__file__)
                version_table = f"alembic_version_{service}"
                await migrate_to(database, scripts, version_table, revision)
                async with database.engine.connect() as conn:
                    made = await conn.run_sync(tables)
                assert "fingerprint" in made["columns"], service
                assert made["indexes"] == ["ix_idempotency_keys_expires_at"], service
                await migrate_to(database, scripts, version_table, before, down=True)
                async with database.engine.connect() as conn:
                    assert await conn.run_sync(tables) == {}, service
            finally:
                await database.dispose()
