"""Every error auth documents, provoked: type, title, status and detail each time; a 409
names its field in errors[] (as a 422 does) and, as before, at the top level."""

from __future__ import annotations

from typing import Any

import httpx
from taskflow_chassis.testing import check_method_refused, check_no_route, check_problem


async def test_auth_errors_have_one_shape(client: httpx.AsyncClient, api: Any) -> None:
    alice = await api.signed_in("alice")
    users = "/api/v1/auth/users"
    taken = check_problem(
        await client.post(
            users, json={"username": "ALICE", "email": "x@example.com", "password": api.password}
        ),
        409,
    )
    assert taken["field"] == "username"
    assert taken["errors"][0]["field"] == "username"
    assert taken["errors"][0]["loc"] == ["body", "username"]
    email = check_problem(
        await client.post(
            users, json={"username": "al2", "email": "alice@example.com", "password": api.password}
        ),
        409,
    )
    assert email["field"] == email["errors"][0]["field"] == "email"
    check_problem(await client.post(users, json={"username": "b"}), 422)
    check_problem(await client.get("/api/v1/auth/users/me"), 401)
    check_problem(
        await client.post("/api/v1/auth/jwt/create", json={"username": "alice", "password": "no"}),
        401,
    )
    check_problem(
        await client.post(
            "/api/v1/auth/users/set_password",
            headers=alice,
            json={"current_password": "wrong-password-1", "new_password": "a-new-long-secret-9"},
        ),
        403,
    )
    check_problem(
        await client.post(
            "/api/v1/auth/users/reset_password_confirm",
            json={"token": "made-up", "new_password": "a-new-long-secret-9"},
        ),
        400,
    )
    check_problem(await client.get("/api/v1/participants/me", headers=alice), 404)
    register = "/api/v1/participants/register"
    assert (
        await client.post(register, headers=alice, json={"phone_number": "+442079460958"})
    ).status_code == 201
    again = check_problem(
        await client.post(register, headers=alice, json={"phone_number": "+442079460959"}), 409
    )
    assert again["field"] == "user_id" and again["errors"][0]["loc"] == ["body"]
    bob = await api.signed_in("bob")
    phone = check_problem(
        await client.post(register, headers=bob, json={"phone_number": "+442079460958"}), 409
    )
    assert phone["field"] == "phone_number"
    assert phone["errors"][0]["loc"] == ["body", "phone_number"]


async def test_unknown_paths_and_methods(client: httpx.AsyncClient) -> None:
    await check_no_route(client, "/api/v1/auth/nothing-here")
    await check_method_refused(client, "PUT", "/api/v1/auth/jwt/create", ["POST"])
