"""Web's fixtures: the web app in-process against the real four services of the embedded
runtime (make dev's Dispatcher, SQLite, the in-memory bus, emails as .eml files), and a
browser-like client that keeps the session cookie and posts forms with their CSRF token."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import email
import email.message
import email.policy
import html
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from taskflow_chassis.testing import app_running
from taskflow_embedded.main import Dispatcher
from taskflow_web.sessions.service import SessionStore

PASSWORD = "correct-horse-battery"
# The address people open; the session cookie is Secure, so the client speaks https.
ORIGIN = "https://127.0.0.1:8000"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """One person's browser: a cookie jar, the last page's CSRF token, same-origin posts."""

    def __init__(self, client: httpx.AsyncClient, mail: Path) -> None:
        self.client, self.mail = client, mail
        self.csrf = ""

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.get(path, **kwargs)
        found = CSRF.search(response.text)
        if found:
            self.csrf = html.unescape(found.group(1))
        return response

    async def post(
        self, path: str, data: dict[str, str] | None = None, *, origin: str | None = ORIGIN
    ) -> httpx.Response:
        """A form posted as a browser posts it (its CSRF token, the page's origin)."""
        if not self.csrf:
            # Signed in, the sign-in page may send on to another page: it has the token too.
            await self.get("/login", follow_redirects=True)
        headers = {"Origin": origin} if origin else {}
        session = self.cookie
        response = await self.client.post(
            path, data={"csrf_token": self.csrf, **(data or {})}, headers=headers
        )
        found = CSRF.search(response.text)
        if found:
            self.csrf = html.unescape(found.group(1))
        elif self.cookie != session:
            # A new session (signed in or out) has a token of its own, which the page after
            # the redirect would carry: a test that posts next must not send the old one.
            self.csrf = ""
        return response

    async def sign_up(self, username: str) -> str:
        """Sign up and follow the emailed link: a verified account, not signed in."""
        address = f"{username}@example.com"
        await self.get("/signup")
        answer = await self.post(
            "/signup", {"username": username, "email": address, "password": PASSWORD}
        )
        assert answer.status_code == 303, answer.text
        token = await emailed_token(self.mail, address, "Verify")
        verified = await self.get("/verify-email", params={"token": token})
        assert verified.status_code == 200 and address in verified.text, verified.text
        return address

    async def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        await self.get("/login")
        return await self.post("/login", {"username": username, "password": password})

    @property
    def cookie(self) -> str | None:
        return self.client.cookies.get("taskflow_session")


async def emailed_token(mail: Path, to: str, subject: str) -> str:
    """The token of the link in the newest .eml to ``to`` whose subject starts so."""
    for _ in range(200):
        found: list[tuple[int, email.message.EmailMessage]] = []
        for eml in mail.glob("*.eml"):  # noqa: ASYNC240 - a few small files in a test
            message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
            if (
                isinstance(message, email.message.EmailMessage)
                and message["To"] == to
                and message["Subject"].startswith(subject)
            ):
                found.append((eml.stat().st_mtime_ns, message))
        if found:
            body = max(found, key=lambda item: item[0])[1].get_body(preferencelist=("plain",))
            assert body is not None
            match = re.search(r"token=([\w-]+)", body.get_content())
            assert match, body.get_content()
            return match.group(1)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no email to {to} about {subject!r}")


# A data folder as the runtime's first start leaves it, made once per test process: each
# test starts from a copy, where its first start would migrate five databases and make
# the development keys (about 0.2 s of CPU a test).
_FIRST_RUN: list[Path] = []


async def as_after_first_run(data: Path) -> None:
    """Fill ``data`` with what the runtime's first start writes (databases at their newest
    migration, the development keys), unless the runtime already started there."""
    if not _FIRST_RUN:
        template = Path(tempfile.mkdtemp(prefix="taskflow-web-first-run-"))
        atexit.register(shutil.rmtree, template, ignore_errors=True)
        with pytest.MonkeyPatch.context() as env:
            env.setenv("TASKFLOW_DATA_DIR", str(template))
            env.setenv("TASKFLOW_EVENT_BUS_URL", f"memory://web-first-run-{template.name}")
            env.setenv("TASKFLOW_LOG_LEVEL", "WARNING")
            async with app_running(Dispatcher()):
                pass
        _FIRST_RUN.append(template)
    _copy_unless_started(_FIRST_RUN[0], data)


def _copy_unless_started(template: Path, data: Path) -> None:
    if not any(data.glob("*.db")):
        shutil.copytree(template, data, dirs_exist_ok=True)


@pytest.fixture
async def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Dispatcher]:
    await as_after_first_run(tmp_path)
    monkeypatch.setenv("TASKFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TASKFLOW_EVENT_BUS_URL", f"memory://web-{tmp_path.name}")
    monkeypatch.setenv("TASKFLOW_PUBLIC_URL", ORIGIN)
    monkeypatch.setenv("TASKFLOW_LOG_LEVEL", "WARNING")
    dispatcher = Dispatcher()
    async with app_running(dispatcher):
        yield dispatcher


@pytest.fixture
def web(embedded: Dispatcher) -> FastAPI:
    return embedded.apps["web"]


@pytest.fixture
def sessions(web: FastAPI) -> SessionStore:
    store: SessionStore = web.state.sessions
    return store


def browser_for(app: Any, mail: Path) -> Browser:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=ORIGIN, follow_redirects=False
    )
    return Browser(client, mail)


@pytest.fixture
async def browser(web: FastAPI, tmp_path: Path) -> AsyncIterator[Browser]:
    """A browser talking to web itself (the pages of the emailed links included: the
    dispatcher still sends /verify-email and /reset-password to notify's link pages)."""
    made = browser_for(web, tmp_path / "mail")
    async with made.client:
        yield made


@contextlib.asynccontextmanager
async def embedded_runtime(data: Path) -> AsyncIterator[Dispatcher]:
    """The four services and web in one process, their files under ``data`` (for a
    module's shared runtime; the ``embedded`` fixture is the per-test one)."""
    await as_after_first_run(data)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TASKFLOW_DATA_DIR", str(data))
        env.setenv("TASKFLOW_EVENT_BUS_URL", f"memory://web-{data.name}")
        env.setenv("TASKFLOW_PUBLIC_URL", ORIGIN)
        env.setenv("TASKFLOW_LOG_LEVEL", "WARNING")
        dispatcher = Dispatcher()
        async with app_running(dispatcher):
            yield dispatcher


async def participant(api: httpx.AsyncClient, browser: Browser, name: str, phone: str) -> str:
    """``name`` signed up (address verified) and signed in on ``browser``, with a
    participant profile: their access token for calls straight to the API."""
    await browser.sign_up(name)
    assert (await browser.sign_in(name)).status_code == 303
    login = await api.post("/api/v1/auth/jwt/create", json={"username": name, "password": PASSWORD})
    token = str(login.json()["access"])
    registered = await api.post(
        "/api/v1/participants/register",
        json={"phone_number": phone},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert registered.status_code == 201, registered.text
    return token


async def until_status(
    make: Callable[[], Awaitable[httpx.Response]], status: int
) -> httpx.Response:
    """``make()``'s answer once it has ``status`` (a participant profile or a membership
    reaches the other services by an event: a moment after the request, not within it;
    on a machine busy with the whole suite, seconds)."""
    answer = await make()
    for _ in range(600):
        if answer.status_code == status:
            return answer
        await asyncio.sleep(0.05)
        answer = await make()
    raise AssertionError(answer.text)


async def team_with_member(
    api: httpx.AsyncClient,
    mail: Path,
    lead: str,
    member: str,
    member_email: str,
    role: str,
    name: str = "Launch crew",
) -> str:
    """A team the ``lead`` token's person creates, and the ``member`` token's person joins
    with ``role`` by the emailed invitation: the team's id."""
    lead_key = {"Authorization": f"Bearer {lead}"}
    team = await until_status(
        lambda: api.post("/api/v1/teams", headers=lead_key, json={"name": name}), 201
    )
    team_id = str(team.json()["id"])
    roles = (await api.get(f"/api/v1/teams/{team_id}/roles", headers=lead_key)).json()["items"]
    invited = await api.post(
        f"/api/v1/teams/{team_id}/invitations",
        headers=lead_key,
        json={"email": member_email, "role_id": next(r["id"] for r in roles if r["name"] == role)},
    )
    assert invited.status_code == 201, invited.text
    token = await emailed_token(mail, member_email, "You are invited")
    await until_status(
        lambda: api.post(
            "/api/v1/invitations/accept",
            headers={"Authorization": f"Bearer {member}"},
            json={"token": token},
        ),
        200,
    )
    return team_id


async def call_as(api: httpx.AsyncClient, token: str, method: str, path: str, **kwargs: Any) -> Any:
    """A call straight to the API as ``token``'s person: the JSON answer (a refusal fails)."""
    response = await api.request(
        method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
    )
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


async def lead_and_member(
    api: httpx.AsyncClient, lead: Browser, member: Browser, role: str, phones: tuple[str, str]
) -> tuple[dict[str, str], str]:
    """ada leads a new team and bob joined it with ``role``, each signed in on their browser:
    their tokens for calls straight to the API, and the team's id."""
    tokens = {
        "ada": await participant(api, lead, "ada", phones[0]),
        "bob": await participant(api, member, "bob", phones[1]),
    }
    team_id = await team_with_member(
        api, lead.mail, tokens["ada"], tokens["bob"], "bob@example.com", role
    )
    return tokens, team_id


async def task_in_new_team(
    api: httpx.AsyncClient, token: str, team: str, title: str = "Draft"
) -> dict[str, Any]:
    """A task (as the API answers it) in a project of a new team the ``token``'s person
    leads."""
    key = {"Authorization": f"Bearer {token}"}
    made = await until_status(
        lambda: api.post("/api/v1/teams", headers=key, json={"name": team}), 201
    )
    project = await until_status(
        lambda: api.post(
            "/api/v1/projects", headers=key, json={"team_id": made.json()["id"], "name": "P"}
        ),
        201,
    )
    task = await api.post(
        f"/api/v1/projects/{project.json()['id']}/tasks", headers=key, json={"title": title}
    )
    assert task.status_code == 201, task.text
    found: dict[str, Any] = task.json()
    return found


def form_version(page: str, action: str) -> str:
    """The version (ETag) the form posting to ``action`` carries."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', page, re.S)
    assert form, page
    found = re.search(r'name="version" value="([^"]*)"', form.group(0))
    assert found, form.group(0)
    return html.unescape(found.group(1))
