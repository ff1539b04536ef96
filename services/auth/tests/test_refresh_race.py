"""A refresh token is used once, whatever arrives at the same instant: on PostgreSQL,
MariaDB and SQLite (`make dev`), the same token sent twice at once gives one new pair
and one 401, the family is revoked (the loser counts as reuse), and nothing answers 500.
So is a password reset link, and an account is deleted once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from taskflow_chassis.testing import fresh_database

ROUNDS = 8
# Each round lands its step on a random moment of the deletion's commit.
ROUNDS_AGAINST_DELETION = 12


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(request.param, tmp_path, "taskflow_auth_race") as url:
        yield url


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/jwt/refresh", json={"refresh": token})


async def test_one_refresh_token_sent_twice_at_once_wins_once_and_revokes_the_family(
    client: httpx.AsyncClient, api: Any
) -> None:
    await api.sign_up("racer")
    for round_ in range(ROUNDS):
        tokens = await api.log_in("racer")
        answers = await asyncio.gather(*(refresh(client, tokens["refresh"]) for _ in range(2)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 401], (round_, [a.text for a in answers])
        winner = next(a for a in answers if a.status_code == 200).json()
        # The loser was reuse: the whole family died, the winner's new token with it.
        assert (await refresh(client, winner["refresh"])).status_code == 401, round_


async def test_many_copies_at_once_still_one_winner(client: httpx.AsyncClient, api: Any) -> None:
    await api.sign_up("crowd")
    for round_ in range(4):
        tokens = await api.log_in("crowd")
        answers = await asyncio.gather(*(refresh(client, tokens["refresh"]) for _ in range(5)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 401, 401, 401, 401], (round_, [a.text for a in answers])


async def keep_refreshing(client: httpx.AsyncClient, token: str, stop: asyncio.Event) -> str:
    """A thief rotating a stolen refresh token as fast as it can: its latest token."""
    while not stop.is_set():
        answer = await refresh(client, token)
        if answer.status_code != 200:
            break
        token = answer.json()["refresh"]
    return token


@pytest.mark.parametrize("ending", ["set_password", "revoke", "revoke_all"])
async def test_a_session_ended_while_its_refresh_token_rotates_stays_ended(
    client: httpx.AsyncClient, api: Any, ending: str
) -> None:
    """The revoking UPDATE sees only committed rows: a refresh in flight at that moment
    commits a new token it never saw. That token must be refused all the same."""
    await api.sign_up("victim")
    password = "correct-horse-battery"
    for round_ in range(6):
        victim = await api.log_in("victim", password=password)
        stolen = (await api.log_in("victim", password=password))["refresh"]
        stop = asyncio.Event()
        thief = asyncio.create_task(keep_refreshing(client, stolen, stop))
        await asyncio.sleep(0.05)
        headers = {"Authorization": f"Bearer {victim['access']}"}
        if ending == "set_password":
            new = f"another-long-passphrase-{round_}"
            ended = await client.post(
                "/api/v1/auth/users/set_password",
                headers=headers,
                json={"current_password": password, "new_password": new},
            )
            password = new
        elif ending == "revoke_all":  # the owner signs out everywhere
            ended = await client.post("/api/v1/auth/jwt/revoke_all", headers=headers)
        else:
            ended = await client.post(
                "/api/v1/auth/jwt/revoke", headers=headers, json={"refresh": stolen}
            )
        assert ended.status_code in {200, 204}, ended.text
        await asyncio.sleep(0.05)
        stop.set()
        latest = await thief
        assert (await refresh(client, latest)).status_code == 401, round_


SESSION_STEPS = ("log in", "refresh", "log out")


async def session_step(
    client: httpx.AsyncClient, step: str, username: str, password: str, tokens: dict[str, Any]
) -> httpx.Response:
    """A log-in, or a rotation or log-out of the session ``tokens``."""
    if step == "log in":
        body = {"username": username, "password": password}
        return await client.post("/api/v1/auth/jwt/create", json=body)
    if step == "refresh":
        return await refresh(client, tokens["refresh"])
    headers = {"Authorization": f"Bearer {tokens['access']}"}
    return await client.post(
        "/api/v1/auth/jwt/revoke", headers=headers, json={"refresh": tokens["refresh"]}
    )


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("step", SESSION_STEPS)
async def test_a_session_step_racing_the_accounts_deletion_is_taken_or_refused_with_401(
    client: httpx.AsyncClient, api: Any, step: str
) -> None:
    """A log-in, a rotation or a log-out that commits before the account's deletion goes
    with the account; one after it is refused (401): no session is written for an
    account that is gone, and the two never deadlock."""
    for round_ in range(ROUNDS_AGAINST_DELETION):
        username = f"user{round_}"
        headers = await api.signed_in(username)
        other = await api.log_in(username)

        send = partial(session_step, client, step, username, api.password, other)
        _, answered = await api.racing_deletion(headers, send)
        assert answered.status_code < 300 or answered.status_code == 401, (round_, answered.text)


async def test_a_log_in_whose_password_changed_while_it_was_checked_gets_no_session(
    app: Any, client: httpx.AsyncClient, api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The owner changes the password (every session ended) while a log-in with the old
    one is being checked: that log-in is refused, not handed a session the change never
    saw, whose refresh token would outlive the change."""
    owner = await api.signed_in("owner")
    passwords = app.state.auth_deps.passwords
    checked = passwords.verify_and_update
    changed: list[int] = []

    async def changed_meanwhile(password: str, stored: str | None) -> Any:
        answer = await checked(password, stored)
        if not changed:  # the owner's change lands once the thief's password was checked
            change = await client.post(
                "/api/v1/auth/users/set_password",
                headers=owner,
                json={"current_password": api.password, "new_password": "a-new-long-passphrase"},
            )
            changed.append(change.status_code)
        return answer

    monkeypatch.setattr(passwords, "verify_and_update", changed_meanwhile)
    body = {"username": "owner", "password": api.password}
    thief = await client.post("/api/v1/auth/jwt/create", json=body)
    assert changed == [204]
    assert thief.status_code == 401, thief.text


async def test_one_reset_link_followed_twice_at_once_sets_one_password(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    """Two new passwords through one link at the same instant: one is set (204), the other
    refused as a used link (400), and only the one set opens the account."""
    for round_ in range(3):  # the hourly cap of reset emails an address asks for
        username = f"forgetful{round_}"
        await api.sign_up(username)
        asked = await client.post(
            "/api/v1/auth/users/reset_password", json={"email": f"{username}@example.com"}
        )
        assert asked.status_code == 202, asked.text
        await event_log.settle()
        link = event_log.of_type("taskflow.auth.password_reset.requested.v1")[-1].data
        token = parse_qs(urlsplit(link["reset_url"]).query)["token"][0]
        passwords = [f"first-new-passphrase-{round_}", f"second-new-passphrase-{round_}"]
        answers = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/auth/users/reset_password_confirm",
                    json={"token": token, "new_password": password},
                )
                for password in passwords
            )
        )
        assert sorted(a.status_code for a in answers) == [204, 400], [a.text for a in answers]
        winner = passwords[[a.status_code for a in answers].index(204)]
        for password in passwords:
            body = {"username": username, "password": password}
            logged_in = await client.post("/api/v1/auth/jwt/create", json=body)
            assert logged_in.status_code == (200 if password == winner else 401), round_


async def test_an_account_deleted_twice_at_once_is_deleted_once(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    """Two deletions of one account at the same instant: one deletes it (204), the other
    finds it gone (401); one user.deleted is announced, and nothing answers 500."""
    for round_ in range(4):
        username = f"leaving{round_}"
        headers = await api.signed_in(username)
        answers = await asyncio.gather(*(api.delete_account(headers) for _ in range(2)))
        assert sorted(a.status_code for a in answers) == [204, 401], [a.text for a in answers]
    await event_log.settle()
    assert len(event_log.of_type("taskflow.auth.user.deleted.v1")) == 4
