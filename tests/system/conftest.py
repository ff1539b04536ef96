"""The distributed runtime as processes (``make up``'s LocalStack) on the machine's servers.

Every stack has a unique name: its own databases, RabbitMQ virtual host, exchange, queues
and Celery queue, so runs never mix and a fault test that cuts broker connections cuts only
its own. Two kinds of test module:

- most share one stack per test process (``shared_system``, the browser tests' stack too):
  ``system = shared_stack()`` and ``SHARED_STACK_TESTS`` in the module. They sign up people
  and teams with names no other module uses, and leave every process of it running;
- a module that changes its stack's settings or leaves a process of it down or cut off
  (the fault scenarios) starts its own: conftest's ``system``, or ``running_system``.

A stack starts nine processes, 15 s of CPU on an idle 2-core machine and more when loaded:
sharing one saves that for every module that can. Every request goes through the gateway
as configured in gateway/ (taskflow_embedded.gateway). Needs PostgreSQL, RabbitMQ and
Redis: skipped with the reason where one is missing, failed when CI is set.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import html
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright
from taskflow_chassis.db import connect_postgres
from taskflow_chassis.ports import free_ports
from taskflow_chassis.testing import (
    in_ci,
    require_postgres,
    require_rabbitmq,
    require_redis,
)
from taskflow_embedded.gateway import GatewayTransport
from taskflow_embedded.local import LocalStack

PASSWORD = "correct-horse-battery"
VERIFY_SUBJECT = "Verify your email address for TaskFlow"

_phones = itertools.count(110)


def next_phone() -> str:
    """A different valid number each call (phone numbers are unique per participant)."""
    return f"+1415555{next(_phones):04d}"


class Figures(list[str]):
    """What the system and fault tests measured. Each line rides on its test's report (so it
    reaches the main process under pytest-xdist); the repository's root conftest prints
    them all at the end of the run."""

    item: pytest.Item | None = None

    def append(self, line: str) -> None:
        super().append(line)
        if self.item is not None:
            self.item.user_properties.append(("figure", line))


FIGURES = Figures()


@pytest.fixture(autouse=True)
def _figures_of_this_test(request: pytest.FixtureRequest) -> Any:
    FIGURES.item = request.node
    yield
    FIGURES.item = None


class System:
    def __init__(
        self, stack: LocalStack, client: httpx.AsyncClient, transport: GatewayTransport
    ) -> None:
        self.stack, self.client, self.transport = stack, client, transport
        self._parsed: dict[str, tuple[int, EmailMessage]] = {}

    def emails(self, to: str | None = None) -> list[EmailMessage]:
        """Every message at the SMTP sink, oldest first (each file parsed once: polls are cheap)."""
        for folder in ("new", "cur"):
            for path in (self.stack.mail_dir / folder).glob("*"):
                if path.name not in self._parsed:
                    message = email.message_from_bytes(
                        path.read_bytes(), policy=email.policy.default
                    )
                    if isinstance(message, EmailMessage):
                        self._parsed[path.name] = (path.stat().st_mtime_ns, message)
        ordered = [
            message for _, message in sorted(self._parsed.values(), key=lambda item: item[0])
        ]
        return [m for m in ordered if to is None or m["To"] == to]

    async def wait_for(
        self, condition: Callable[[], Any], seconds: float = 60, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + seconds
        while True:
            value = condition()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            if time.monotonic() > deadline:
                logs = "\n".join(
                    f"--- {name}\n{self.stack.log(name, 1500)}"
                    for name in ("notify", "worker", "smtp")
                )
                raise AssertionError(f"timed out waiting for {what}\n{logs}")
            await asyncio.sleep(0.2)

    async def manage(self, service: str, *args: str) -> tuple[int, str]:
        """Run a service's command (``dlq list``...) with the stack's environment for it."""
        import subprocess
        import sys

        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", f"taskflow_{service}", *args],
            env=self.stack.environment(service),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr

    async def parked(self, service: str) -> list[dict[str, Any]]:
        """The events parked in a service's dead-letter queue."""
        import json

        code, output = await self.manage(service, "dlq", "list", "--json")
        assert code == 0, output
        return [json.loads(line) for line in output.splitlines() if line.startswith("{")]

    async def sql(self, service: str, query: str, *args: Any) -> list[Any]:
        """Rows of a query on a service's own database (what the test checks, not the app)."""
        conn = await connect_postgres(self.stack.database_url(service))
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    async def sign_up(self, name: str, *, phone: str, verify: bool = True) -> dict[str, str]:
        """An account with a participant profile; its address verified through the emailed
        link unless ``verify`` is false."""
        created = await self.client.post(
            "/api/v1/auth/users",
            json={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
        )
        assert created.status_code == 201, created.text
        if verify:
            await self.verify_email(f"{name}@example.com")
        tokens = await self.client.post(
            "/api/v1/auth/jwt/create", json={"username": name, "password": PASSWORD}
        )
        assert tokens.status_code == 200, tokens.text
        headers = {"Authorization": f"Bearer {tokens.json()['access']}"}
        registered = await self.client.post(
            "/api/v1/participants/register", headers=headers, json={"phone_number": phone}
        )
        assert registered.status_code == 201, registered.text
        return {**headers, "id": created.json()["id"], "email": f"{name}@example.com"}

    @staticmethod
    def text_of(message: EmailMessage) -> str:
        """A message's plain-text part."""
        part = message.get_body(("plain",))
        assert part is not None, f"no text part in {message['Subject']!r}"
        text: str = part.get_content()
        return text

    def email_token(self, message: EmailMessage) -> str:
        """The ``token=`` of the link in a message's text part."""
        link = re.search(r"token=([\w-]+)", self.text_of(message))
        assert link is not None, f"no token in {message['Subject']!r}"
        return link.group(1)

    async def verify_email(self, address: str, *, subject: str = VERIFY_SUBJECT) -> None:
        """Follow the newest link emailed to ``address`` under ``subject``."""
        [*_, message] = await self.wait_for(
            lambda: [m for m in self.emails(address) if m["Subject"] == subject],
            what=f"the email to {address}: {subject}",
        )
        verified = await self.client.post(
            "/api/v1/auth/users/verify_email", json={"token": self.email_token(message)}
        )
        assert verified.status_code == 200, verified.text


class WebBrowser:
    """A person's browser on the web app through the gateway: its session cookie (Secure,
    so the client speaks https to the in-process gateway), the last page's CSRF token, and
    forms posted from the page's origin."""

    CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

    def __init__(self, system: System) -> None:
        self.origin = system.stack.gateway_url
        self.client = httpx.AsyncClient(
            transport=GatewayTransport(system.stack.upstreams()),
            base_url=self.origin.replace("http://", "https://", 1),
            timeout=30,
        )
        self.csrf = ""

    async def __aenter__(self) -> WebBrowser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def get(self, path: str) -> httpx.Response:
        page = await self.client.get(path)
        found = self.CSRF.search(page.text)
        if found:
            self.csrf = html.unescape(found.group(1))
        return page

    async def sign_in(self, login_page: str, username: str) -> str:
        """Through the sign-in page a link sent a signed-out browser to: where it goes next."""
        page = await self.get(login_page)
        assert page.status_code == 200 and 'name="password"' in page.text, page.text[:300]
        target = parse_qs(urlsplit(login_page).query)["next"][0]
        entered = await self.client.post(
            "/login",
            data={
                "csrf_token": self.csrf,
                "username": username,
                "password": PASSWORD,
                "next": target,
            },
            headers={"Origin": self.origin},
        )
        assert entered.status_code == 303, entered.text[:300]
        location: str = entered.headers["location"]
        return location


# The gateway emulator on its ports (public, and web's internal entry point), as ``make up``
# serves it where Traefik is not installed.
_GATEWAY = (
    "import json, sys\n"
    "from taskflow_embedded.gateway import serve\n"
    "serve(json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), log_level='warning')\n"
)


async def _answers(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=3) as client:
            return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def serve_gateway(system: System) -> None:
    """The gateway as a process of the stack, at ``stack.gateway_url`` and web's internal
    entry point: web's pages call the API through it (the tests' own requests go through
    the in-process GatewayTransport), and a browser needs it on a port."""
    stack = system.stack
    upstreams = json.dumps(stack.upstreams())
    internal = str(stack.internal_gateway_port)
    command = [sys.executable, "-c", _GATEWAY, upstreams, str(stack.gateway_port), internal]
    stack.start_process("gateway", command, "web")
    await system.wait_for(
        lambda: _answers(f"{stack.gateway_url}/login"), seconds=60, what="web via the gateway"
    )


# A stack's start on a loaded 2-core machine (test workers each starting ten processes
# beside the suite) took longer than ``make up``'s 90 s twice in one day's CI runs.
STACK_START_SECONDS = 240.0


async def where_they_wait(stack: LocalStack, *names: str) -> str:
    """Each process's Python stacks (py-spy, a dev dependency), or only those ``names``,
    for a stack or a process that did not become ready: where a start that hangs hangs."""
    py_spy = str(Path(sys.executable).with_name("py-spy"))
    dumps = []
    for name, process in list(stack.processes.items()):
        if names and name not in names:
            continue
        try:
            done = await asyncio.to_thread(
                subprocess.run,
                [py_spy, "dump", "--pid", str(process.pid), "--subprocesses"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            dumps.append(f"--- {name} ---\n{done.stdout[-6000:]}{done.stderr[-1000:]}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            dumps.append(f"--- {name} ---\npy-spy: {exc}")
    return "\n".join(dumps)


@asynccontextmanager
async def running_system(
    data_dir: Path, *, gateway: bool = False, **options: Any
) -> AsyncIterator[System]:
    """A whole stack of the test's own (``options`` override LocalStack's fields); with
    ``gateway``, the gateway listening too (what web's pages need)."""
    require_postgres()
    require_rabbitmq()
    require_redis()
    ports = free_ports(8)
    name = f"tfsys_{uuid.uuid4().hex[:8]}"
    # Few connections kept idle: the test processes' stacks share one PostgreSQL and its
    # 100 connections (a burst still opens more, up to the overflow, and closes them after).
    options["extra_env"] = {
        "TASKFLOW_DB_POOL_SIZE": "2",
        "TASKFLOW_DB_MAX_OVERFLOW": "10",
        **options.get("extra_env", {}),
    }
    stack = LocalStack(
        data_dir=data_dir,
        name=name,
        rabbitmq_vhost=name,
        gateway_port=ports[0],
        internal_gateway_port=ports[7],
        smtp_port=ports[6],
        ports=dict(zip(("auth", "teams", "work", "notify", "web"), ports[1:6], strict=True)),
        reminder_scan_seconds=2,
        **options,
    )
    await asyncio.to_thread(stack.create_vhost)
    await stack.create_databases()
    stack.start()
    try:
        try:
            await stack.wait_ready(timeout=STACK_START_SECONDS)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{await where_they_wait(stack)}") from None
        transport = GatewayTransport(stack.upstreams())
        async with httpx.AsyncClient(
            transport=transport, base_url=stack.gateway_url, timeout=30
        ) as client:
            running = System(stack, client, transport)
            if gateway:
                await serve_gateway(running)
            yield running
        await transport.aclose()
    finally:
        stack.stop()
        await stack.drop_databases()
        await asyncio.to_thread(stack.delete_vhost)  # its queues and exchange with it


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    """A stack of the module's own: for a module that changes it or leaves a process down."""
    async with running_system(tmp_path_factory.mktemp("stack")) as running:
        yield running


# Session-scoped, in the session's event loop: one stack for every sharing module a test
# process runs (pytest-xdist's worker), the browser tests' included, with the gateway
# listening (web's pages and a browser need it on a port).
@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def shared_system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    async with running_system(
        tmp_path_factory.mktemp("shared-stack"),
        gateway=True,
        # test_browser_pages registers a webhook on the loopback, to check its page
        extra_env={"NOTIFY_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.1/32"},
    ) as running:
        yield running


# A sharing module's tests and fixtures run in the session's event loop, where the shared
# stack's clients live: ``pytestmark = [SHARED_STACK_TESTS, ...]``.
SHARED_STACK_TESTS = pytest.mark.asyncio(loop_scope="session")


# The module before may have spent the test client's budget at the gateway (its address's
# rate-limit-auth bucket: a burst of 20, refilled at 10 a second, a reservation may leave it
# below zero; one module's 30 quick log-ins made the next one's first sign-up a 429).
RATE_BUDGET_REFILL_SECONDS = 3.0


def shared_stack(*, browser: bool = False) -> Any:
    """A sharing module's fixture ``system``: the process's shared stack (``browser``: with
    chromium looked for first), handed over once the gateway's budget for the test client's
    address is full again. ``system = shared_stack()`` there; the module's own async
    fixtures take ``loop_scope="session"``."""
    if browser:

        @pytest_asyncio.fixture(scope="module", name="system", loop_scope="session")
        async def web(web_stack: System) -> System:
            await asyncio.sleep(RATE_BUDGET_REFILL_SECONDS)
            return web_stack

        return web

    @pytest_asyncio.fixture(scope="module", name="system", loop_scope="session")
    async def stack(shared_system: System) -> System:
        await asyncio.sleep(RATE_BUDGET_REFILL_SECONDS)
        return shared_system

    return stack


# --- the browser tests' stack and chromium (tests/system/browser.py) ---------------------


def chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if os.access(configured, os.X_OK):
        return configured
    return shutil.which("chromium")


def require_browser() -> str:
    """Chromium's path; skips the test without one (fails it when CI is set)."""
    path = chromium_path()
    if path is None:
        reason = "no chromium (CHROMIUM, /usr/bin/chromium or on PATH): run `make browser`"
        if in_ci():
            pytest.fail(f"{reason}, and CI is set: the browser tests must run in CI", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def chromium() -> str:
    return require_browser()


# pytest-xdist gives all the browser test files to one worker (the root conftest), where
# they share the process's shared stack. Chromium is looked for first: without one the
# tests skip before a stack starts.
@pytest.fixture(scope="session")
def web_stack(chromium: str, shared_system: System) -> System:
    """The shared stack: web, and the gateway listening at ``stack.gateway_url``."""
    return shared_system


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium: str, web_stack: System) -> AsyncIterator[Browser]:
    """Chromium, closed before the stack stops."""
    async with async_playwright() as playwright:
        running = await playwright.chromium.launch(executable_path=chromium, args=["--disable-gpu"])
        try:
            yield running
        finally:
            await running.close()


async def team_with_member(system: System, lead_name: str, dev_name: str) -> dict[str, Any]:
    """A team led by one user, a developer who joined by the emailed invitation, and a task
    in a project assigned to the developer."""
    client = system.client
    lead = await system.sign_up(lead_name, phone=next_phone())
    lead_headers = {"Authorization": lead["Authorization"]}

    async def create_team() -> Any:
        response = await client.post(
            "/api/v1/teams", headers=lead_headers, json={"name": f"{lead_name}'s team"}
        )
        return response.json() if response.status_code == 201 else None

    team = await system.wait_for(create_team, what="the participant profile to reach teams")
    roles = (await client.get(f"/api/v1/teams/{team['id']}/roles", headers=lead_headers)).json()[
        "items"
    ]
    developer = next(r["id"] for r in roles if r["name"] == "Developer")
    await client.post(
        f"/api/v1/teams/{team['id']}/invitations",
        headers=lead_headers,
        json={"email": f"{dev_name}@example.com", "role_id": developer},
    )
    [invitation] = await system.wait_for(
        lambda: system.emails(f"{dev_name}@example.com"), what="invitation email"
    )
    token = system.email_token(invitation)
    dev = await system.sign_up(dev_name, phone=next_phone())
    dev_headers = {"Authorization": dev["Authorization"]}

    async def accept() -> Any:
        response = await client.post(
            "/api/v1/invitations/accept", headers=dev_headers, json={"token": token}
        )
        return response.status_code == 200

    await system.wait_for(accept, what="the invitee's profile to reach teams")
    project = (
        await client.post(
            "/api/v1/projects", headers=lead_headers, json={"team_id": team["id"], "name": "P"}
        )
    ).json()
    task = (
        await client.post(
            f"/api/v1/projects/{project['id']}/tasks",
            headers=lead_headers,
            json={"title": f"Task of {dev_name}", "assignee_ids": [dev["id"]]},
        )
    ).json()
    return {
        "lead": lead_headers,
        "dev": dev_headers,
        "dev_email": f"{dev_name}@example.com",
        "team": team,
        "task": task,
    }


# --- comments as a stream of events, counted at the feed and at the SMTP sink -----------


async def comment_notifications(system: System, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        page = (
            await system.client.get("/api/v1/notifications", headers=headers, params=params)
        ).json()
        items += [i for i in page["items"] if i["kind"] == "task_commented"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def comment_emails(system: System, address: str) -> list[Any]:
    return [m for m in system.emails(address) if m["Subject"].startswith("New comment on")]


async def send_comments(
    system: System, world: dict[str, Any], numbers: range, *, during: Any = None
) -> None:
    url = f"/api/v1/tasks/{world['task']['id']}/comments"
    for start in range(numbers.start, numbers.stop, 25):
        batch = range(start, min(start + 25, numbers.stop))
        answers = await asyncio.gather(
            *(
                system.client.post(url, headers=world["lead"], json={"body": f"comment {n}"})
                for n in batch
            )
        )
        assert all(a.status_code == 201 for a in answers), [
            a.text for a in answers if a.status_code != 201
        ][:3]
        if during is not None:
            await during(batch.stop)


async def wait_all_delivered(
    system: System, world: dict[str, Any], expected: int
) -> tuple[list[Any], list[Any]]:
    # Distinct ones are counted: a duplicate must not stand in for one still on its way.
    async def notified() -> Any:
        items = await comment_notifications(system, world["dev"])
        return items if len({i["body"] for i in items}) >= expected else None

    def emailed() -> Any:
        mails = comment_emails(system, world["dev_email"])
        return mails if len({m["X-TaskFlow-Email-Id"] for m in mails}) >= expected else None

    await system.wait_for(notified, seconds=240, what=f"{expected} comment notifications")
    await system.wait_for(emailed, seconds=240, what=f"{expected} comment emails")
    await asyncio.sleep(3)  # room for duplicates to show up
    return await comment_notifications(system, world["dev"]), comment_emails(
        system, world["dev_email"]
    )


def duplicates(values: list[str]) -> int:
    return len(values) - len(set(values))
