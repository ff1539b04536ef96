"""Email ownership: sign-up verifies the address, a change needs the password and a link
sent to the new address, and the old address is told (issue 16, findings 1 and 5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import text, update
from taskflow_auth.config import AuthSettings
from taskflow_auth.users.models import EmailVerificationToken
from taskflow_chassis.types import utcnow

ME = "/api/v1/auth/users/me"
CHANGE = "/api/v1/auth/users/me/email"
VERIFY = "/api/v1/auth/users/verify_email"
RESEND = "/api/v1/auth/users/resend_verification"
RESET = "/api/v1/auth/users/reset_password"
VERIFICATION = "taskflow.auth.email_verification.requested.v1"
CHANGE_REQUESTED = "taskflow.auth.email_change.requested.v1"
UPDATED = "taskflow.auth.user.updated.v1"


def token_of(url: str) -> str:
    return str(parse_qs(urlsplit(url).query)["token"][0])


async def links(event_log: Any, event_type: str, field: str) -> list[str]:
    await event_log.settle()
    return [token_of(e.data[field]) for e in event_log.of_type(event_type)]


async def me(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(ME, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_sign_up_sends_a_link_that_verifies_the_address(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    headers = await api.signed_in()
    await event_log.settle()
    [sent] = event_log.of_type(VERIFICATION)
    assert sent.data["email"] == "alice@example.com"
    assert sent.data["verify_url"].startswith("https://taskflow.example/verify-email?token=")
    assert (await me(client, headers))["email_verified"] is False

    verified = await client.post(VERIFY, json={"token": token_of(sent.data["verify_url"])})
    assert verified.status_code == 200, verified.text
    assert verified.json() == {"email": "alice@example.com", "email_verified": True}
    assert (await me(client, headers))["email_verified"] is True
    await event_log.settle()
    assert [(e.data["email"], e.data["email_verified"]) for e in event_log.of_type(UPDATED)] == [
        ("alice@example.com", True)
    ]
    again = await client.post(VERIFY, json={"token": token_of(sent.data["verify_url"])})
    assert again.status_code == 400 and again.json()["type"].endswith("invalid-email-token")


async def test_the_database_keeps_only_a_hash_of_the_link(
    client: httpx.AsyncClient, api: Any, event_log: Any, app: Any
) -> None:
    await api.sign_up()
    [token] = await links(event_log, VERIFICATION, "verify_url")
    async with app.state.database.session() as session:
        stored = await session.execute(text("SELECT token_hash FROM email_verification_tokens"))
        [row] = stored.all()
    assert token not in row[0] and len(row[0]) == 64


async def test_made_up_token_is_400(client: httpx.AsyncClient, api: Any) -> None:
    response = await client.post(VERIFY, json={"token": "made-up"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_resend_replaces_the_link_and_is_capped_per_address(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    headers = await api.signed_in()
    for _ in range(6):
        response = await client.post(RESEND, headers=headers)
        assert response.status_code == 202
    tokens = await links(event_log, VERIFICATION, "verify_url")
    # Sign-up and four resends: five an hour to one address, the rest dropped silently.
    assert len(tokens) == 5
    replaced = await client.post(VERIFY, json={"token": tokens[0]})
    assert replaced.status_code == 400
    assert (await client.post(VERIFY, json={"token": tokens[-1]})).status_code == 200
    # Verified: a resend sends nothing more.
    assert (await client.post(RESEND, headers=headers)).status_code == 202
    assert len(await links(event_log, VERIFICATION, "verify_url")) == 5


async def test_resend_needs_a_session(client: httpx.AsyncClient) -> None:
    assert (await client.post(RESEND)).status_code == 401


async def test_patch_no_longer_changes_the_email(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    headers = await api.signed_in()
    response = await client.patch(ME, headers=headers, json={"email": "mallory@example.com"})
    assert response.status_code == 422
    assert (await me(client, headers))["email"] == "alice@example.com"


async def test_a_stolen_access_token_cannot_change_the_email(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    """Finding 1: the token alone used to move the account to the thief's address."""
    headers = await api.signed_in()
    wrong = await client.post(
        CHANGE,
        headers=headers,
        json={"new_email": "mallory@example.com", "current_password": "a-guess-at-it"},
    )
    assert wrong.status_code == 403 and wrong.json()["type"].endswith("wrong-password")
    missing = await client.post(CHANGE, headers=headers, json={"new_email": "m@example.com"})
    assert missing.status_code == 422
    await event_log.settle()
    assert event_log.of_type(CHANGE_REQUESTED) == []
    assert (await me(client, headers))["email"] == "alice@example.com"


async def test_change_takes_effect_when_the_new_address_follows_its_link(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    headers = await api.signed_in()
    [signup_token] = await links(event_log, VERIFICATION, "verify_url")
    asked = await client.post(
        CHANGE,
        headers=headers,
        json={"new_email": "Alice@New.Example", "current_password": api.password},
    )
    assert asked.status_code == 202, asked.text
    await event_log.settle()
    [requested] = event_log.of_type(CHANGE_REQUESTED)
    assert requested.data["old_email"] == "alice@example.com"
    assert requested.data["new_email"] == "alice@new.example"
    assert requested.data["confirm_url"].startswith("https://taskflow.example/verify-email?token=")
    # Nothing changed yet, and a reset still goes to the current address.
    current = await me(client, headers)
    assert current["email"] == "alice@example.com"
    assert current["pending_email"] == "alice@new.example"
    await client.post(RESET, json={"email": "alice@new.example"})
    await event_log.settle()
    assert event_log.of_type("taskflow.auth.password_reset.requested.v1") == []

    confirmed = await client.post(VERIFY, json={"token": token_of(requested.data["confirm_url"])})
    assert confirmed.status_code == 200
    assert confirmed.json() == {"email": "alice@new.example", "email_verified": True}
    after = await me(client, headers)
    assert after["email"] == "alice@new.example" and after["email_verified"] is True
    assert after["pending_email"] is None
    await event_log.settle()
    assert [(e.data["email"], e.data["email_verified"]) for e in event_log.of_type(UPDATED)] == [
        ("alice@new.example", True)
    ]
    # The sign-up link was bound to the old address: it verifies nothing now.
    assert (await client.post(VERIFY, json={"token": signup_token})).status_code == 400
    await api.log_in("alice@new.example")


async def test_only_the_latest_change_request_counts(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    headers = await api.signed_in()
    for address in ("first@example.com", "second@example.com"):
        response = await client.post(
            CHANGE, headers=headers, json={"new_email": address, "current_password": api.password}
        )
        assert response.status_code == 202
    first, second = await links(event_log, CHANGE_REQUESTED, "confirm_url")
    assert (await client.post(VERIFY, json={"token": first})).status_code == 400
    assert (await client.post(VERIFY, json={"token": second})).status_code == 200
    assert (await me(client, headers))["email"] == "second@example.com"


async def test_change_to_a_taken_address_is_409_also_when_taken_meanwhile(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    await api.sign_up("bob")
    headers = await api.signed_in()
    taken = await client.post(
        CHANGE,
        headers=headers,
        json={"new_email": "bob@example.com", "current_password": api.password},
    )
    assert taken.status_code == 409
    same = await client.post(
        CHANGE,
        headers=headers,
        json={"new_email": "alice@example.com", "current_password": api.password},
    )
    assert same.status_code == 422
    asked = await client.post(
        CHANGE,
        headers=headers,
        json={"new_email": "carol@example.com", "current_password": api.password},
    )
    assert asked.status_code == 202
    [token] = await links(event_log, CHANGE_REQUESTED, "confirm_url")
    await api.sign_up("carol")  # someone signs up with it before the link is followed
    late = await client.post(VERIFY, json={"token": token})
    assert late.status_code == 409
    assert (await me(client, headers))["email"] == "alice@example.com"


async def test_change_requests_to_one_address_are_capped(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    headers = await api.signed_in()
    statuses = [
        (
            await client.post(
                CHANGE,
                headers=headers,
                json={"new_email": "target@example.com", "current_password": api.password},
            )
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [202] * 5 + [429]
    assert len(await links(event_log, CHANGE_REQUESTED, "confirm_url")) == 5


async def test_one_account_cannot_mail_change_links_to_strangers_at_will(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    """Capped per recipient alone, one account could send a link to every address there
    is (and spend each owner's own hourly links); it is capped per account as well."""
    headers = await api.signed_in()
    statuses = [
        (
            await client.post(
                CHANGE,
                headers=headers,
                json={"new_email": f"stranger{n}@example.com", "current_password": api.password},
            )
        ).status_code
        for n in range(8)
    ]
    assert statuses == [202] * 5 + [429] * 3
    assert len(await links(event_log, CHANGE_REQUESTED, "confirm_url")) == 5


async def test_an_expired_link_is_refused(
    client: httpx.AsyncClient, api: Any, event_log: Any, app: Any
) -> None:
    headers = await api.signed_in()
    [token] = await links(event_log, VERIFICATION, "verify_url")
    async with app.state.database.session() as session:
        await session.execute(
            update(EmailVerificationToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    assert (await client.post(VERIFY, json={"token": token})).status_code == 400
    assert (await me(client, headers))["email_verified"] is False


def test_links_last_a_day_unless_configured() -> None:
    assert AuthSettings().email_verify_minutes == 24 * 60
    assert AuthSettings(email_verify_minutes=30).email_verify_minutes == 30
