"""Participant profiles: phone numbers parsed, validated and stored as E.164."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

REGISTER = "/api/v1/participants/register"


@pytest.mark.parametrize(
    ("body", "e164"),
    [
        ({"phone_number": "+44 20 7946 0958"}, "+442079460958"),
        ({"phone_number": "020 7946 0958", "region": "GB"}, "+442079460958"),
        ({"phone_number": "(201) 555-0123", "region": "us"}, "+12015550123"),
    ],
)
async def test_register_stores_e164(
    client: httpx.AsyncClient, api: Any, event_log: Any, body: dict[str, str], e164: str
) -> None:
    headers = await api.signed_in()
    response = await client.post(
        REGISTER, headers=headers, json={**body, "display_name": "Alice A."}
    )
    assert response.status_code == 201, response.text
    assert response.json()["phone_number"] == e164
    me = await client.get("/api/v1/auth/users/me", headers=headers)
    assert me.json()["participant"]["phone_number"] == e164
    assert (await client.get("/api/v1/participants/me", headers=headers)).json()[
        "display_name"
    ] == "Alice A."
    await event_log.settle()
    [event] = event_log.of_type("taskflow.auth.participant.registered.v1")
    assert event.data["phone_number"] == e164 and event.data["username"] == "alice"


@pytest.mark.parametrize(
    "body",
    [
        {"phone_number": "12345"},
        {"phone_number": "not a number"},
        {"phone_number": "+1 555 0000"},
        {"phone_number": "020 7946 0958"},
        {"phone_number": "+99 123 456 789"},
    ],
)
async def test_invalid_phone_is_422_naming_phone_number(
    client: httpx.AsyncClient, api: Any, body: dict[str, str]
) -> None:
    headers = await api.signed_in()
    response = await client.post(REGISTER, headers=headers, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "phone_number" in [e["field"] for e in response.json()["errors"]]
    assert (await client.get("/api/v1/participants/me", headers=headers)).status_code == 404


async def test_one_profile_per_user_and_per_number(client: httpx.AsyncClient, api: Any) -> None:
    alice = await api.signed_in("alice")
    bob = await api.signed_in("bob")
    assert (
        await client.post(REGISTER, headers=alice, json={"phone_number": "+442079460958"})
    ).status_code == 201
    twice = await client.post(REGISTER, headers=alice, json={"phone_number": "+442079460959"})
    assert twice.status_code == 409
    same_number = await client.post(
        REGISTER, headers=bob, json={"phone_number": "020 7946 0958", "region": "GB"}
    )
    assert same_number.status_code == 409
    assert same_number.json()["field"] == "phone_number"


async def test_update_profile(client: httpx.AsyncClient, api: Any, event_log: Any) -> None:
    headers = await api.signed_in()
    assert (
        await client.patch("/api/v1/participants/me", headers=headers, json={"display_name": "A"})
    ).status_code == 404
    await client.post(REGISTER, headers=headers, json={"phone_number": "+442079460958"})
    updated = await client.patch(
        "/api/v1/participants/me",
        headers=headers,
        json={"phone_number": "(201) 555-0123", "region": "US"},
    )
    assert updated.status_code == 200 and updated.json()["phone_number"] == "+12015550123"
    invalid = await client.patch(
        "/api/v1/participants/me", headers=headers, json={"phone_number": "12"}
    )
    assert invalid.status_code == 422
    await event_log.settle()
    assert [
        e.data["phone_number"] for e in event_log.of_type("taskflow.auth.participant.updated.v1")
    ] == ["+12015550123"]


async def test_register_needs_a_token(client: httpx.AsyncClient) -> None:
    assert (await client.post(REGISTER, json={"phone_number": "+442079460958"})).status_code == 401
