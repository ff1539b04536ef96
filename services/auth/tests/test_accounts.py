"""Sign-up, log-in, the caller's account, and the events they publish."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import httpx
import pytest

PROBLEM = "application/problem+json"


def comparable(body: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in body.items() if k not in {"correlation_id", "instance"}}


async def test_sign_up_then_me(client: httpx.AsyncClient, api: Any, event_log: Any) -> None:
    user = await api.sign_up()
    assert user["username"] == "alice" and user["email"] == "alice@example.com"
    assert "password" not in user and "password_hash" not in user
    tokens = await api.log_in()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0
    me = await client.get("/api/v1/auth/users/me", headers=api.bearer(tokens))
    assert me.status_code == 200
    assert me.json()["id"] == user["id"] and me.json()["participant"] is None
    events = await event_log.settle()
    registered = [e for e in events if e.type == "taskflow.auth.user.registered.v1"]
    assert len(registered) == 1
    assert registered[0].data == {
        "user_id": user["id"],
        "username": "alice",
        "email": "alice@example.com",
        "email_verified": False,
    }
    assert me.json()["email_verified"] is False and me.json()["pending_email"] is None


async def test_log_in_by_email(client: httpx.AsyncClient, api: Any) -> None:
    await api.sign_up("bob")
    response = await client.post(
        "/api/v1/auth/jwt/create", json={"email": "BOB@example.com", "password": api.password}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("second", "field"),
    [
        ({"username": "ALICE", "email": "other@example.com"}, "username"),
        ({"username": "alice2", "email": "Alice@Example.com"}, "email"),
    ],
)
async def test_duplicate_username_or_email_is_409(
    client: httpx.AsyncClient, api: Any, second: dict[str, str], field: str
) -> None:
    await api.sign_up()
    response = await client.post("/api/v1/auth/users", json={**second, "password": api.password})
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["field"] == field


@pytest.mark.parametrize("password", ["short", "password123", "aaaaaaaaaaaa", "alice-secret-1"])
async def test_weak_password_is_422(client: httpx.AsyncClient, api: Any, password: str) -> None:
    response = await client.post(
        "/api/v1/auth/users",
        json={"username": "alice", "email": "a@example.com", "password": password},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert [e["field"] for e in response.json()["errors"]] == ["password"]


async def test_bad_email_is_422_naming_email(client: httpx.AsyncClient, api: Any) -> None:
    response = await client.post(
        "/api/v1/auth/users",
        json={"username": "alice", "email": "not-an-email", "password": api.password},
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["email"]


async def test_unknown_user_and_wrong_password_get_the_same_401(
    client: httpx.AsyncClient, api: Any
) -> None:
    await api.sign_up()
    wrong = await client.post(
        "/api/v1/auth/jwt/create", json={"username": "alice", "password": "nope-nope-nope"}
    )
    unknown = await client.post(
        "/api/v1/auth/jwt/create", json={"username": "nobody", "password": "nope-nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert comparable(wrong.json()) == comparable(unknown.json())
    assert wrong.headers["content-type"] == unknown.headers["content-type"] == PROBLEM


async def test_login_is_throttled_per_username_with_retry_after(
    client: httpx.AsyncClient, api: Any
) -> None:
    await api.sign_up()
    for _ in range(5):
        response = await client.post(
            "/api/v1/auth/jwt/create", json={"username": "alice", "password": "wrong-guess-1"}
        )
        assert response.status_code == 401
    blocked = await client.post(
        "/api/v1/auth/jwt/create", json={"username": "alice", "password": api.password}
    )
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert blocked.headers["content-type"] == PROBLEM


async def test_login_is_throttled_per_ip(client: httpx.AsyncClient, api: Any) -> None:
    for n in range(20):
        response = await client.post(
            "/api/v1/auth/jwt/create", json={"username": f"ghost{n}", "password": "wrong-guess-1"}
        )
        assert response.status_code == 401
    blocked = await client.post(
        "/api/v1/auth/jwt/create", json={"username": "someone-new", "password": "x"}
    )
    assert blocked.status_code == 429


async def test_me_needs_a_bearer_token(client: httpx.AsyncClient, api: Any) -> None:
    user = await api.sign_up()
    response = await client.get("/api/v1/auth/users/me", headers={"X-User-Id": str(user["id"])})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_update_me_and_conflict(client: httpx.AsyncClient, api: Any, event_log: Any) -> None:
    await api.sign_up("bob")
    await api.sign_up()
    tokens = await api.log_in()
    taken = await client.patch(
        "/api/v1/auth/users/me", headers=api.bearer(tokens), json={"username": "Bob"}
    )
    assert taken.status_code == 409
    renamed = await client.patch(
        "/api/v1/auth/users/me", headers=api.bearer(tokens), json={"username": "alice2"}
    )
    assert renamed.status_code == 200 and renamed.json()["username"] == "alice2"
    # The email has its own route (password, link to the new address): test_email_ownership.
    refused = await client.patch(
        "/api/v1/auth/users/me", headers=api.bearer(tokens), json={"email": "alice@new.example"}
    )
    assert refused.status_code == 422 and "users/me/email" in refused.text
    await event_log.settle()
    assert [
        (e.data["username"], e.data["email"], e.data["email_verified"])
        for e in event_log.of_type("taskflow.auth.user.updated.v1")
    ] == [("alice2", "alice@example.com", False)]


async def test_delete_me(client: httpx.AsyncClient, api: Any, event_log: Any) -> None:
    user = await api.sign_up()
    tokens = await api.log_in()
    wrong = await client.request(
        "DELETE",
        "/api/v1/auth/users/me",
        headers=api.bearer(tokens),
        json={"current_password": "not-it-at-all"},
    )
    assert wrong.status_code == 403
    gone = await client.request(
        "DELETE",
        "/api/v1/auth/users/me",
        headers=api.bearer(tokens),
        json={"current_password": api.password},
    )
    assert gone.status_code == 204
    assert (
        await client.get("/api/v1/auth/users/me", headers=api.bearer(tokens))
    ).status_code == 401
    again = await client.post(
        "/api/v1/auth/jwt/create", json={"username": "alice", "password": api.password}
    )
    assert again.status_code == 401
    await event_log.settle()
    assert [e.data for e in event_log.of_type("taskflow.auth.user.deleted.v1")] == [
        {"user_id": user["id"]}
    ]


async def test_jwks_has_public_keys_only(client: httpx.AsyncClient, api: Any) -> None:
    response = await client.get("/api/v1/auth/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys and all(k["kid"] and k["use"] == "sig" for k in keys)
    assert not any(member in key for key in keys for member in ("d", "p", "q", "dp", "dq", "qi"))


async def test_health_and_docs(client: httpx.AsyncClient, api: Any) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    assert (await client.get("/docs/auth")).status_code == 200
    schema = (await client.get("/openapi/auth.json")).json()
    assert (
        "/api/v1/auth/users" in schema["paths"]
        and "/api/v1/participants/register" in schema["paths"]
    )


async def test_correlation_id_flows_into_events(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    response = await client.post(
        "/api/v1/auth/users",
        json={"username": "carol", "email": "carol@example.com", "password": api.password},
        headers={"X-Correlation-Id": "trace-42"},
    )
    assert response.headers["x-correlation-id"] == "trace-42"
    await event_log.settle()
    assert [e.correlationid for e in event_log.of_type("taskflow.auth.user.registered.v1")] == [
        "trace-42"
    ]


ME = "/api/v1/auth/users/me"
REGISTER = "/api/v1/participants/register"
PROFILE = {"phone_number": "+44 20 7946 0958", "display_name": "Racer"}
# Each change of the signed-in account: its method, path, and body given the password.
ACCOUNT_CHANGES: dict[str, tuple[str, str, Callable[[str], dict[str, str] | None]]] = {
    "set password": (
        "POST",
        "/api/v1/auth/users/set_password",
        lambda password: {"current_password": password, "new_password": "a-new-passphrase-1"},
    ),
    "rename": ("PATCH", ME, lambda _: {"username": "renamed"}),
    "change email": (
        "POST",
        f"{ME}/email",
        lambda password: {"new_email": "new@example.com", "current_password": password},
    ),
    "resend verification": ("POST", "/api/v1/auth/users/resend_verification", lambda _: None),
    "register participant": ("POST", REGISTER, lambda _: PROFILE),
    "update participant": ("PATCH", "/api/v1/participants/me", lambda _: {"display_name": "X"}),
}


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("change", ACCOUNT_CHANGES)
async def test_a_change_racing_the_accounts_deletion_is_made_or_refused_with_401(
    client: httpx.AsyncClient, api: Any, change: str
) -> None:
    """Whichever commits first, the other sees what it left: a change made first goes
    with the account; one arriving after the deletion is refused as any request of a
    deleted account is (401), never a 5xx nor a conflict that is not there."""
    method, path, body = ACCOUNT_CHANGES[change]
    for round_ in range(12):
        headers = await api.signed_in(f"user{round_}")
        if change == "update participant":
            registered = await client.post(REGISTER, headers=headers, json=PROFILE)
            assert registered.status_code == 201, registered.text

        send = partial(client.request, method, path, headers=headers, json=body(api.password))
        _, answered = await api.racing_deletion(headers, send)
        assert answered.status_code < 300 or answered.status_code == 401, (round_, answered.text)
        if answered.status_code == 401:
            assert answered.headers["content-type"] == PROBLEM
