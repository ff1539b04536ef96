"""Password reset: same answer for every email, a single-use expiring link."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

RESET = "/api/v1/auth/users/reset_password"
CONFIRM = "/api/v1/auth/users/reset_password_confirm"


def comparable(response: httpx.Response) -> tuple[int, Any, str]:
    return response.status_code, response.json(), response.headers["content-type"]


async def test_reset_answers_the_same_for_known_and_unknown(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    user = await api.sign_up()
    known = await client.post(RESET, json={"email": "alice@example.com"})
    unknown = await client.post(RESET, json={"email": "nobody@example.com"})
    assert known.status_code == 202
    assert comparable(known) == comparable(unknown)
    await event_log.settle()
    requested = event_log.of_type("taskflow.auth.password_reset.requested.v1")
    assert len(requested) == 1
    data = requested[0].data
    assert data["user_id"] == user["id"] and data["email"] == "alice@example.com"
    assert data["reset_url"].startswith("https://taskflow.example/reset-password?token=")
    assert data["expires_at"]


async def reset_token(client: httpx.AsyncClient, event_log: Any) -> str:
    await client.post(RESET, json={"email": "alice@example.com"})
    await event_log.settle()
    url = event_log.of_type("taskflow.auth.password_reset.requested.v1")[-1].data["reset_url"]
    return str(parse_qs(urlsplit(url).query)["token"][0])


async def test_reset_link_is_single_use(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    await api.sign_up()
    old = await api.log_in()
    token = await reset_token(client, event_log)
    done = await client.post(CONFIRM, json={"token": token, "new_password": "reset-and-renewed"})
    assert done.status_code == 204
    again = await client.post(CONFIRM, json={"token": token, "new_password": "another-new-secret"})
    assert again.status_code == 400
    await api.log_in(password="reset-and-renewed")
    assert (
        await client.post("/api/v1/auth/jwt/refresh", json={"refresh": old["refresh"]})
    ).status_code == 401


async def test_bad_reset_token_is_400(client: httpx.AsyncClient, api: Any) -> None:
    response = await client.post(
        CONFIRM, json={"token": "made-up", "new_password": "reset-and-renewed"}
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_expired_reset_token_is_400(
    client: httpx.AsyncClient, api: Any, event_log: Any, app: Any
) -> None:
    from sqlalchemy import update
    from taskflow_auth.users.models import PasswordResetToken
    from taskflow_chassis.types import utcnow

    await api.sign_up()
    token = await reset_token(client, event_log)
    async with app.state.database.session() as session:
        await session.execute(update(PasswordResetToken).values(expires_at=utcnow()))
        await session.commit()
    response = await client.post(
        CONFIRM, json={"token": token, "new_password": "reset-and-renewed"}
    )
    assert response.status_code == 400


async def test_following_a_reset_link_verifies_the_address(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    """The link went to the account's address: following it proves the address is theirs
    (the way back for someone whose address a stranger signed up with first)."""
    await api.sign_up()
    token = await reset_token(client, event_log)
    done = await client.post(CONFIRM, json={"token": token, "new_password": "reset-and-renewed"})
    assert done.status_code == 204
    tokens = await api.log_in(password="reset-and-renewed")
    me = await client.get(
        "/api/v1/auth/users/me", headers={"Authorization": f"Bearer {tokens['access']}"}
    )
    assert me.json()["email_verified"] is True
    await event_log.settle()
    updated = event_log.of_type("taskflow.auth.user.updated.v1")
    assert updated and updated[-1].data["email_verified"] is True
