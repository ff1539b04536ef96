"""The embedded runtime (``make dev``): one process, gateway paths, the acceptance walk.

One test drives the composed ASGI app in-process; another starts the real
``python -m taskflow_embedded.main`` on a free port and walks it with HTTP, as
a person with curl would.
"""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from taskflow_chassis.ports import free_port
from taskflow_chassis.testing import app_running
from taskflow_embedded.main import Dispatcher

PASSWORD = "correct-horse-battery"


async def walk(client: httpx.AsyncClient, mail: Path) -> None:
    """sign-up → token → users/me → participants/register, and the docs."""
    signed_up = await client.post(
        "/api/v1/auth/users",
        json={"username": "dana", "email": "dana@example.com", "password": PASSWORD},
    )
    assert signed_up.status_code == 201, signed_up.text
    tokens = await client.post(
        "/api/v1/auth/jwt/create", json={"username": "dana", "password": PASSWORD}
    )
    assert tokens.status_code == 200, tokens.text
    headers = {"Authorization": f"Bearer {tokens.json()['access']}"}
    me = await client.get("/api/v1/auth/users/me", headers=headers)
    assert me.status_code == 200 and me.json()["username"] == "dana"
    registered = await client.post(
        "/api/v1/participants/register", headers=headers, json={"phone_number": "+14155552671"}
    )
    assert registered.status_code == 201, registered.text
    assert registered.json()["phone_number"] == "+14155552671"
    # The participant profile reaches teams through the bus: a moment, not a request.
    for _ in range(100):
        team = await client.post("/api/v1/teams", headers=headers, json={"name": "Dana's team"})
        if team.status_code != 403:
            break
        await asyncio.sleep(0.05)
    assert team.status_code == 201, team.text
    assert team.json()["my_role"]["name"] == "Team Leader"
    assert (await client.get("/api/v1/teams", headers=headers)).json()["items"][0][
        "name"
    ] == "Dana's team"
    # Work knows the team leader at once: from the event, or by reading through to teams.
    project = await client.post(
        "/api/v1/projects", headers=headers, json={"team_id": team.json()["id"], "name": "Launch"}
    )
    assert project.status_code == 201, project.text
    task = await client.post(
        f"/api/v1/projects/{project.json()['id']}/tasks",
        headers=headers,
        json={"title": "Ship it", "priority": "high", "due_at": "2026-12-24T09:00:00Z"},
    )
    assert task.status_code == 201, task.text
    listed = await client.get("/api/v1/tasks", params={"assignee": "me"}, headers=headers)
    assert listed.status_code == 200 and listed.json()["items"] == []
    await invite_by_email(client, headers, team.json()["id"], mail)
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "/openapi/auth.json" in docs.text
    assert (await client.get("/docs/auth")).status_code == 200
    assert (await client.get("/openapi/auth.json")).json()["info"]["title"] == "TaskFlow auth"
    assert "/openapi/teams.json" in docs.text and "/openapi/work.json" in docs.text
    assert "/openapi/notify.json" in docs.text
    assert (await client.get("/docs/notify")).status_code == 200
    assert (await client.get("/docs/work")).status_code == 200
    assert (await client.get("/docs/teams")).status_code == 200
    assert "/api/v1/invitations/accept" in (await client.get("/openapi/teams.json")).json()["paths"]
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    missing = await client.get("/api/v1/nothing-here")
    assert (
        missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    )


async def emailed_token(mail: Path, to: str, subject: str) -> str:
    """The token of the link in the one .eml to ``to`` whose subject starts with ``subject``."""
    messages: list[email.message.EmailMessage] = []
    for _ in range(200):
        messages = [
            message
            for message in (
                email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
                for eml in mail.glob("*.eml")  # noqa: ASYNC240
            )
            if isinstance(message, email.message.EmailMessage)
            and message["To"] == to
            and message["Subject"].startswith(subject)
        ]
        if messages:
            break
        await asyncio.sleep(0.05)
    [message] = messages
    text = message.get_body(preferencelist=("plain",))
    assert text is not None, message["Subject"]
    body = text.get_content()
    found = re.search(r"token=([\w-]+)", body)
    assert found, body
    return found.group(1)


async def invite_by_email(
    client: httpx.AsyncClient, headers: dict[str, str], team_id: str, mail: Path
) -> None:
    """Invite an address with no account: the .eml's link holds a token accept takes."""
    roles = (await client.get(f"/api/v1/teams/{team_id}/roles", headers=headers)).json()["items"]
    developer = next(r["id"] for r in roles if r["name"] == "Developer")
    invited = await client.post(
        f"/api/v1/teams/{team_id}/invitations",
        headers=headers,
        json={"email": "erin@example.com", "role_id": developer},
    )
    assert invited.status_code == 201, invited.text
    token = await emailed_token(mail, "erin@example.com", "You are invited")
    await client.post(
        "/api/v1/auth/users",
        json={"username": "erin", "email": "erin@example.com", "password": PASSWORD},
    )
    # Only a verified address may take its invitations: erin follows the sign-up's link.
    verified = await client.post(
        "/api/v1/auth/users/verify_email",
        json={"token": await emailed_token(mail, "erin@example.com", "Verify your email")},
    )
    assert verified.status_code == 200, verified.text
    login = await client.post(
        "/api/v1/auth/jwt/create", json={"username": "erin", "password": PASSWORD}
    )
    erin = {"Authorization": f"Bearer {login.json()['access']}"}
    await client.post(
        "/api/v1/participants/register", headers=erin, json={"phone_number": "+14155552672"}
    )
    for _ in range(100):
        accepted = await client.post(
            "/api/v1/invitations/accept", headers=erin, json={"token": token}
        )
        if accepted.status_code != 403:  # the profile is still on its way to teams
            break
        await asyncio.sleep(0.05)
    assert accepted.status_code == 200, accepted.text
    me = await client.get(f"/api/v1/teams/{team_id}/members/me", headers=erin)
    assert me.json()["role_name"] == "Developer"


@pytest.fixture
async def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Dispatcher]:
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TASKFLOW_EVENT_BUS_URL", f"memory://embedded-{tmp_path.name}")
    dispatcher = Dispatcher()
    async with app_running(dispatcher):
        yield dispatcher


async def test_embedded_in_process(embedded: Dispatcher, tmp_path: Path) -> None:
    transport = httpx.ASGITransport(app=embedded)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        await walk(client, tmp_path / "mail")
    assert (tmp_path / "auth.db").exists() and (tmp_path / "teams.db").exists()
    assert list((tmp_path / "auth" / "keys").glob("*.pem"))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "TASKFLOW_DATA_DIR": str(tmp_path / "var"),
    }
    env.pop("TASKFLOW_EVENT_BUS_URL", None)
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "taskflow_embedded.main"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail("make dev's server exited:\n" + (tmp_path / "server.log").read_text())
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("server did not start:\n" + (tmp_path / "server.log").read_text())
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


async def test_embedded_server_over_http(server: str, tmp_path: Path) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        await walk(client, tmp_path / "var" / "mail")
