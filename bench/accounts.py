"""The bench's people, made through the API: the bench user with a team and a project,
and a colleague in that team to assign tasks to."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import asyncpg
import httpx
from taskflow_embedded.local import LocalStack

PASSWORD = "correct-horse-battery"


@dataclass(frozen=True)
class Accounts:
    token: str  # the bench user's access token
    user_id: str
    assignee_id: str  # the colleague's
    team_id: str
    project_id: str
    web_cookie: str = ""  # the bench user's signed-in session at the web app (name=value)


async def make_accounts(stack: LocalStack) -> Accounts:
    """The bench user, their team and project, and a colleague to assign, via the API."""
    async with httpx.AsyncClient(timeout=30) as client:
        user_id, token = await sign_up(client, stack, "bench")
        assignee_id, _ = await sign_up(client, stack, "colleague")
        headers = {"Authorization": f"Bearer {token}"}
        participant = await client.post(
            f"{stack.url('auth')}/api/v1/participants/register",
            headers=headers,
            json={"phone_number": "+14155550199"},
        )
        participant.raise_for_status()
        team_id = await _create_team(client, stack, headers)
        project = await client.post(
            f"{stack.url('work')}/api/v1/projects",
            headers=headers,
            json={"team_id": team_id, "name": "Bench"},
        )
        project.raise_for_status()
    cookie = await web_session(stack, "bench")
    accounts = Accounts(token, user_id, assignee_id, team_id, project.json()["id"], cookie)
    await _colleague_joins(stack, accounts)
    await _wait_for_notify_to_know(stack, assignee_id)
    return accounts


async def sign_up(client: httpx.AsyncClient, stack: LocalStack, username: str) -> tuple[str, str]:
    """A new user's id and access token."""
    auth = stack.url("auth")
    answer = await client.post(
        f"{auth}/api/v1/auth/users",
        json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    answer.raise_for_status()
    login = await client.post(
        f"{auth}/api/v1/auth/jwt/create", json={"username": username, "password": PASSWORD}
    )
    login.raise_for_status()
    return answer.json()["id"], login.json()["access"]


async def _create_team(
    client: httpx.AsyncClient, stack: LocalStack, headers: dict[str, str]
) -> str:
    for _ in range(100):  # teams learns of the new user from auth's event
        team = await client.post(
            f"{stack.url('teams')}/api/v1/teams", headers=headers, json={"name": "B"}
        )
        if team.status_code == 201:
            break
        await asyncio.sleep(0.1)
    team.raise_for_status()
    return str(team.json()["id"])


async def _colleague_joins(stack: LocalStack, accounts: Accounts) -> None:
    """As teams' event would record it in work's replica (invitations need email)."""
    conn = await asyncpg.connect(stack.database_url("work"))
    try:
        await conn.execute(
            "INSERT INTO member_replicas SELECT team_id, $2, role_id, role_name,"
            " permissions, true, updated_at FROM member_replicas"
            " WHERE team_id = $1 AND user_id = $3",
            uuid.UUID(accounts.team_id),
            uuid.UUID(accounts.assignee_id),
            uuid.UUID(accounts.user_id),
        )
    finally:
        await conn.close()


async def _wait_for_notify_to_know(stack: LocalStack, user_id: str) -> None:
    conn = await asyncpg.connect(stack.database_url("notify"))
    try:
        for _ in range(300):
            if await conn.fetchval(
                "SELECT 1 FROM user_replicas WHERE user_id = $1", uuid.UUID(user_id)
            ):
                return
            await asyncio.sleep(0.1)
        sys.exit("notify never heard of the colleague's sign-up")
    finally:
        await conn.close()


async def web_session(stack: LocalStack, username: str) -> str:
    """A signed-in session at the web app, as a browser gets it: the sign-in form's
    session and CSRF token, the form posted, the rotated session cookie kept."""
    web = stack.url("web")
    async with httpx.AsyncClient(base_url=web, timeout=30) as client:
        form = await client.get("/login")
        form.raise_for_status()
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None, "no CSRF token in the sign-in form"
        client.cookies.clear()  # the Secure cookie goes by hand: the bench's web is plain HTTP
        signed_in = await client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "csrf_token": csrf.group(1)},
            headers={"Cookie": _session_cookie(form)},
        )
        assert signed_in.status_code == 303, signed_in.text[:500]
        return _session_cookie(signed_in)


def _session_cookie(response: httpx.Response) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith("taskflow_session="):
            return header.split(";", 1)[0]
    raise AssertionError(f"no session cookie from {response.request.url}")


# --- an access token that outlives its 15 minutes ------------------------------------------


def token_window(token: str) -> tuple[float, float]:
    """When an access token (a JWT) was issued and when it expires, from its claims (read,
    not verified: the bench only needs to know when to log in again)."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return float(claims["iat"]), float(claims["exp"])


def refresh_due(token: str, now: float, left: float = 1 / 3) -> bool:
    """Whether less than ``left`` of the token's life remains: time for a new one."""
    issued, expires = token_window(token)
    return now >= expires - left * (expires - issued)


@dataclass
class TokenKeeper:
    """The bench user's access token, logged in for again once a third of its life is
    left, and written to ``path`` (``wrk/request.lua`` reads the file every second): a
    scenario, a write phase or a whole run longer than a token's life keeps answering 200.
    Used as a context manager, a thread keeps it fresh meanwhile."""

    path: Path
    mint: Callable[[], str]  # a new access token
    clock: Callable[[], float] = time.time
    check_seconds: float = 1.0
    current: str = ""
    minted: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def token(self) -> str:
        """A token with a third of its life or more left (a new one when due)."""
        with self._lock:
            if not self.current or refresh_due(self.current, self.clock()):
                self.current = self.mint()
                self.minted += 1
                written = self.path.with_name(f"{self.path.name}.new")
                written.write_text(self.current + "\n")
                os.replace(written, self.path)  # whole: wrk never reads half a token
            return self.current

    def __enter__(self) -> TokenKeeper:
        self.token()
        self._thread = threading.Thread(target=self._keep, name="token-keeper", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _keep(self) -> None:
        while not self._stop.wait(self.check_seconds):
            try:
                self.token()
            except httpx.HTTPError as error:  # tried again a second later
                print(f"token refresh: {error}", file=sys.stderr, flush=True)


def log_in(stack: LocalStack, username: str) -> str:
    """A new access token for ``username`` (auth's log-in)."""
    answer = httpx.post(
        f"{stack.url('auth')}/api/v1/auth/jwt/create",
        json={"username": username, "password": PASSWORD},
        timeout=60,
    )
    answer.raise_for_status()
    return str(answer.json()["access"])
