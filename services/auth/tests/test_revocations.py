"""Every revocation is announced to the other services and listed for their catch-up."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
from fastapi import FastAPI
from pydantic import SecretStr
from taskflow_chassis.revocation import REVOCATIONS_PATH, TOKENS_REVOKED
from taskflow_contracts.auth import TokensRevoked

NEW_PASSWORD = "a-brand-new-secret"


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


def announced(event_log: Any) -> list[tuple[str, str, int | None]]:
    return [
        (e.data["scope"], e.data["key"], e.data["min_version"])
        for e in event_log.of_type(TOKENS_REVOKED)
    ]


async def listed(client: httpx.AsyncClient, app: FastAPI) -> list[tuple[str, str, int | None]]:
    app.state.settings.internal_api_key = SecretStr("service-key")
    response = await client.get(REVOCATIONS_PATH, headers={"X-Service-Key": "service-key"})
    assert response.status_code == 200, response.text
    items = [TokensRevoked.model_validate(item) for item in response.json()["items"]]
    return ordered([(i.scope, i.key, i.min_version) for i in items])


def ordered(facts: list[tuple[str, str, int | None]]) -> list[tuple[str, str, int | None]]:
    return sorted(facts, key=repr)  # min_version may be None


async def test_access_tokens_carry_their_refresh_family(api: Any) -> None:
    await api.sign_up()
    tokens = await api.log_in()
    access, refresh = claims_of(tokens["access"]), claims_of(tokens["refresh"])
    assert access["fam"] == refresh["fam"] and access["ver"] == 0


async def test_log_out_password_change_and_deletion_are_announced_and_listed(
    client: httpx.AsyncClient, api: Any, event_log: Any, app: FastAPI
) -> None:
    user = await api.sign_up()
    session = await api.log_in()
    await api.log_in()  # another session, ended by the password change
    logged_out = await client.post(
        "/api/v1/auth/jwt/revoke", headers=api.bearer(session), json={"refresh": session["refresh"]}
    )
    assert logged_out.status_code == 204
    current = await api.log_in()
    changed = await client.post(
        "/api/v1/auth/users/set_password",
        headers=api.bearer(current),
        json={"current_password": api.password, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 204
    latest = await api.log_in(password=NEW_PASSWORD)
    deleted = await client.request(
        "DELETE",
        "/api/v1/auth/users/me",
        headers=api.bearer(latest),
        json={"current_password": NEW_PASSWORD},
    )
    assert deleted.status_code == 204
    await event_log.settle()

    expected = [
        ("token", claims_of(session["access"])["jti"], None),
        ("family", claims_of(session["access"])["fam"], None),
        ("user", user["id"], 1),
        ("user", user["id"], None),
    ]
    assert ordered(announced(event_log)) == ordered(expected)
    assert all(e.subject == user["id"] for e in event_log.of_type(TOKENS_REVOKED))
    assert await listed(client, app) == ordered(expected)


async def test_a_reused_refresh_token_kills_its_familys_access_tokens(
    client: httpx.AsyncClient, api: Any, event_log: Any, app: FastAPI
) -> None:
    await api.sign_up()
    first = await api.log_in()
    rotated = await client.post("/api/v1/auth/jwt/refresh", json={"refresh": first["refresh"]})
    assert rotated.status_code == 200
    newest = rotated.json()
    me = await client.get("/api/v1/auth/users/me", headers=api.bearer(newest))
    assert me.status_code == 200
    reused = await client.post("/api/v1/auth/jwt/refresh", json={"refresh": first["refresh"]})
    assert reused.status_code == 401
    for tokens in (first, newest):
        refused = await client.get("/api/v1/auth/users/me", headers=api.bearer(tokens))
        assert refused.status_code == 401
    await event_log.settle()
    family = claims_of(newest["access"])["fam"]
    assert announced(event_log) == [("family", family, None)]
    assert await listed(client, app) == [("family", family, None)]


async def test_a_password_reset_is_announced(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    user = await api.sign_up()
    await client.post("/api/v1/auth/users/reset_password", json={"email": "alice@example.com"})
    await event_log.settle()
    url = event_log.of_type("taskflow.auth.password_reset.requested.v1")[-1].data["reset_url"]
    token = parse_qs(urlsplit(url).query)["token"][0]
    done = await client.post(
        "/api/v1/auth/users/reset_password_confirm",
        json={"token": token, "new_password": NEW_PASSWORD},
    )
    assert done.status_code == 204, done.text
    await event_log.settle()
    assert announced(event_log) == [("user", user["id"], 1)]


async def test_the_list_answers_only_holders_of_the_service_key(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    app.state.settings.internal_api_key = SecretStr("")
    assert (await client.get(REVOCATIONS_PATH)).status_code == 404  # no key: no route
    app.state.settings.internal_api_key = SecretStr("service-key")
    assert (await client.get(REVOCATIONS_PATH)).status_code == 401
    wrong = await client.get(REVOCATIONS_PATH, headers={"X-Service-Key": "guess"})
    assert wrong.status_code == 401
    right = await client.get(REVOCATIONS_PATH, headers={"X-Service-Key": "service-key"})
    assert right.status_code == 200 and right.json() == {"items": []}
