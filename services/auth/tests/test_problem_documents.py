"""Every error auth documents, provoked: type, title, status and detail each time; a 409
names its field in errors[] (as a 422 does) and, as before, at the top level."""

from __future__ import annotations

from typing import Any

import httpx

PROBLEM = "application/problem+json"


def check(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body.get(member), str) and body[member], (member, body)
    if status in {409, 422}:
        assert body["errors"], body
        for error in body["errors"]:
            assert set(error) == {"loc", "field", "type", "msg"} and error["field"], body
    return body


async def test_auth_errors_have_one_shape(client: httpx.AsyncClient, api: Any) -> None:
    alice = await api.signed_in("alice")
    users = "/api/v1/auth/users"
    taken = check(
        await client.post(
            users, json={"username": "ALICE", "email": "x@example.com", "password": api.password}
        ),
        409,
    )
    assert taken["field"] == "username"
    assert taken["errors"][0]["field"] == "username"
    assert taken["errors"][0]["loc"] == ["body", "username"]
    email = check(
        await client.post(
            users, json={"username": "al2", "email": "alice@example.com", "password": api.password}
        ),
        409,
    )
    assert email["field"] == email["errors"][0]["field"] == "email"
    check(await client.post(users, json={"username": "b"}), 422)
    check(await client.get("/api/v1/auth/users/me"), 401)
    check(
        await client.post("/api/v1/auth/jwt/create", json={"username": "alice", "password": "no"}),
        401,
    )
    check(
        await client.post(
            "/api/v1/auth/users/set_password",
            headers=alice,
            json={"current_password": "wrong-password-1", "new_password": "a-new-long-secret-9"},
        ),
        403,
    )
    check(
        await client.post(
            "/api/v1/auth/users/reset_password_confirm",
            json={"token": "made-up", "new_password": "a-new-long-secret-9"},
        ),
        400,
    )
    check(await client.get("/api/v1/participants/me", headers=alice), 404)
    register = "/api/v1/participants/register"
    assert (
        await client.post(register, headers=alice, json={"phone_number": "+442079460958"})
    ).status_code == 201
    again = check(
        await client.post(register, headers=alice, json={"phone_number": "+442079460959"}), 409
    )
    assert again["field"] == "user_id" and again["errors"][0]["loc"] == ["body"]
    bob = await api.signed_in("bob")
    phone = check(
        await client.post(register, headers=bob, json={"phone_number": "+442079460958"}), 409
    )
    assert phone["field"] == "phone_number"
    assert phone["errors"][0]["loc"] == ["body", "phone_number"]


async def test_unknown_paths_and_methods(client: httpx.AsyncClient) -> None:
    missing = check(await client.get("/api/v1/auth/nothing-here"), 404)
    assert missing["detail"] == "No route for /api/v1/auth/nothing-here."
    method = check(await client.put("/api/v1/auth/jwt/create"), 405)
    assert method["detail"] == "PUT is not allowed on /api/v1/auth/jwt/create. Allowed: POST."
