"""An ended session is refused by every service within 2 s, asked straight at its own port.

Log-out, a password change, a reset, a reused refresh token (its family revoked) and
account deletion each end tokens; teams, work and notify learn it from auth's
``tokens.revoked`` events, not by asking auth per request, and a process that was
down meanwhile loads what it missed when it starts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from .conftest import PASSWORD, SHARED_STACK_TESTS, System, next_phone, shared_stack

pytestmark = [SHARED_STACK_TESTS, pytest.mark.timeout(300)]
system = shared_stack()

# A GET each service answers to any signed-in user.
PATHS = {"teams": "/api/v1/teams", "work": "/api/v1/projects", "notify": "/api/v1/notifications"}
PROMISE_SECONDS = 2.0
NEW_PASSWORD = "a-brand-new-secret"
REFRESH = "/api/v1/auth/jwt/refresh"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def statuses(system: System, token: str) -> dict[str, int]:
    async with httpx.AsyncClient(timeout=10) as direct:
        return {
            service: (
                await direct.get(f"{system.stack.url(service)}{path}", headers=bearer(token))
            ).status_code
            for service, path in PATHS.items()
        }


async def accepted_everywhere(system: System, token: str) -> None:
    answered = await statuses(system, token)
    assert 401 not in answered.values(), answered


async def refused_everywhere_within_the_promise(system: System, token: str) -> None:
    """Polled from the moment the revoking request returned."""
    deadline = time.monotonic() + PROMISE_SECONDS
    while True:
        answered = await statuses(system, token)
        if set(answered.values()) == {401}:
            return
        assert time.monotonic() < deadline, f"still accepted after {PROMISE_SECONDS} s: {answered}"
        await asyncio.sleep(0.05)


async def log_in(system: System, name: str, password: str = PASSWORD) -> dict[str, Any]:
    response = await system.client.post(
        "/api/v1/auth/jwt/create", json={"username": name, "password": password}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_log_out_ends_the_session_everywhere_and_only_it(system: System) -> None:
    await system.sign_up("rev_logout", phone=next_phone())
    session, other = await log_in(system, "rev_logout"), await log_in(system, "rev_logout")
    await accepted_everywhere(system, session["access"])
    response = await system.client.post(
        "/api/v1/auth/jwt/revoke",
        headers=bearer(session["access"]),
        json={"refresh": session["refresh"]},
    )
    assert response.status_code == 204
    await refused_everywhere_within_the_promise(system, session["access"])
    await accepted_everywhere(system, other["access"])


async def test_a_reused_refresh_token_ends_its_familys_access_tokens(system: System) -> None:
    await system.sign_up("rev_family", phone=next_phone())
    first = await log_in(system, "rev_family")
    rotated = await system.client.post(REFRESH, json={"refresh": first["refresh"]})
    assert rotated.status_code == 200
    newest = rotated.json()
    await accepted_everywhere(system, newest["access"])
    reused = await system.client.post(REFRESH, json={"refresh": first["refresh"]})
    assert reused.status_code == 401
    await refused_everywhere_within_the_promise(system, newest["access"])


async def test_a_password_change_ends_every_earlier_token(system: System) -> None:
    await system.sign_up("rev_change", phone=next_phone())
    earlier, current = await log_in(system, "rev_change"), await log_in(system, "rev_change")
    await accepted_everywhere(system, earlier["access"])
    response = await system.client.post(
        "/api/v1/auth/users/set_password",
        headers=bearer(current["access"]),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 204
    await refused_everywhere_within_the_promise(system, earlier["access"])
    fresh = await log_in(system, "rev_change", NEW_PASSWORD)
    await accepted_everywhere(system, fresh["access"])


async def test_a_password_reset_ends_every_earlier_token(system: System) -> None:
    user = await system.sign_up("rev_reset", phone=next_phone())
    stolen = await log_in(system, "rev_reset")
    await accepted_everywhere(system, stolen["access"])
    requested = await system.client.post(
        "/api/v1/auth/users/reset_password", json={"email": user["email"]}
    )
    assert requested.status_code in (200, 202, 204), requested.text
    [*_, message] = await system.wait_for(
        lambda: [m for m in system.emails(user["email"]) if "reset" in str(m["Subject"]).lower()],
        what="the reset email",
    )
    confirmed = await system.client.post(
        "/api/v1/auth/users/reset_password_confirm",
        json={"token": system.email_token(message), "new_password": NEW_PASSWORD},
    )
    assert confirmed.status_code == 204, confirmed.text
    await refused_everywhere_within_the_promise(system, stolen["access"])


async def test_deleting_the_account_ends_its_tokens(system: System) -> None:
    await system.sign_up("rev_delete", phone=next_phone())
    session = await log_in(system, "rev_delete")
    await accepted_everywhere(system, session["access"])
    response = await system.client.request(
        "DELETE",
        "/api/v1/auth/users/me",
        headers=bearer(session["access"]),
        json={"current_password": PASSWORD},
    )
    assert response.status_code == 204
    await refused_everywhere_within_the_promise(system, session["access"])


async def test_a_process_down_during_a_log_out_refuses_the_token_once_back(
    system: System,
) -> None:
    await system.sign_up("rev_restart", phone=next_phone())
    session = await log_in(system, "rev_restart")
    await accepted_everywhere(system, session["access"])
    system.stack.kill("teams")  # planned: stays down until started again
    try:
        response = await system.client.post(
            "/api/v1/auth/jwt/revoke",
            headers=bearer(session["access"]),
            json={"refresh": session["refresh"]},
        )
        assert response.status_code == 204
    finally:
        system.stack.start_process("teams")
        await system.stack.wait_ready("teams")
    answered = await statuses(system, session["access"])
    assert answered["teams"] == 401, answered  # loaded from auth before serving
