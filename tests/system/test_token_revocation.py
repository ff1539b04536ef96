"""A personal API token on the distributed runtime: accepted by every service (straight at
its own port, so no gateway and no call to auth decide it) and through the gateway, its
last use noted by the gateway's forwardAuth, and once revoked refused by every service
within 2 s, learnt from auth's ``tokens.revoked`` event; a session of the same person and
another token of theirs carry on.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from .conftest import FIGURES, SHARED_STACK_TESTS, System, next_phone, shared_stack
from .test_revocation import bearer

pytestmark = [SHARED_STACK_TESTS, pytest.mark.timeout(300)]
system = shared_stack()

# A GET each service answers to a token holding the scopes below.
PATHS = {
    "auth": "/api/v1/auth/users/me",
    "teams": "/api/v1/teams",
    "work": "/api/v1/projects",
    "notify": "/api/v1/notifications",
}
SCOPES = ["profile.read", "teams.read", "projects.read", "notifications.read"]
PROMISE_SECONDS = 2.0


async def direct_statuses(system: System, token: str) -> dict[str, int]:
    async with httpx.AsyncClient(timeout=10) as direct:
        return {
            service: (
                await direct.get(f"{system.stack.url(service)}{path}", headers=bearer(token))
            ).status_code
            for service, path in PATHS.items()
        }


async def create_token(system: System, session: dict[str, str], name: str) -> dict[str, Any]:
    created = await system.client.post(
        "/api/v1/tokens",
        headers={"Authorization": session["Authorization"]},
        json={"name": name, "scopes": SCOPES, "expires_in_days": 7},
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def test_a_revoked_token_is_refused_everywhere_within_two_seconds(system: System) -> None:
    session = await system.sign_up("tok_revoke", phone=next_phone())
    token, other = (
        await create_token(system, session, "CI"),
        await create_token(system, session, "laptop"),
    )
    secret = token["token"]
    assert await direct_statuses(system, secret) == dict.fromkeys(PATHS, 200)
    for path in PATHS.values():
        through = await system.client.get(path, headers=bearer(secret))
        assert through.status_code == 200, (path, through.text)
    # Beyond its scopes, refused by the service itself.
    async with httpx.AsyncClient(timeout=10) as direct:
        tasks = await direct.get(f"{system.stack.url('work')}/api/v1/tasks", headers=bearer(secret))
    assert tasks.status_code == 403 and tasks.json()["type"].endswith("/insufficient-scope")

    listed = await system.client.get("/api/v1/tokens", headers=session_only(session))
    [used] = [t for t in listed.json()["items"] if t["id"] == token["id"]]
    assert used["last_used_at"] is not None and used["last_used_from"], used

    revoked = await system.client.delete(
        f"/api/v1/tokens/{token['id']}", headers=session_only(session)
    )
    assert revoked.status_code == 204
    started = time.monotonic()
    while True:
        answered = await direct_statuses(system, secret)
        elapsed = time.monotonic() - started
        if set(answered.values()) == {401}:
            break
        assert elapsed < PROMISE_SECONDS, f"still accepted after {elapsed:.2f} s: {answered}"
        await asyncio.sleep(0.05)
    FIGURES.append(f"API token revocation: refused by every service in {elapsed:.2f} s")
    assert (await system.client.get("/api/v1/teams", headers=bearer(secret))).status_code == 401
    assert await direct_statuses(system, other["token"]) == dict.fromkeys(PATHS, 200)
    me = await system.client.get("/api/v1/auth/users/me", headers=session_only(session))
    assert me.status_code == 200


def session_only(session: dict[str, str]) -> dict[str, str]:
    return {"Authorization": session["Authorization"]}
