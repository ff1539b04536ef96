"""Log-in throttling over HTTP: one counter per account (username or email), per
account and address together, so that nobody locks the owner out from elsewhere;
reset emails capped per address; X-Forwarded-For believed only from a named proxy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from taskflow_chassis.config import ServiceSettings
from taskflow_chassis.serve import trusted_proxies
from uvicorn._types import ASGI3Application
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

LOGIN = "/api/v1/auth/jwt/create"
RESET = "/api/v1/auth/users/reset_password"
PASSWORD = "correct-horse-battery"

Connect = Callable[..., Any]


@pytest.fixture
def connect(app: FastAPI) -> Connect:
    """A client of the app seen from ``address`` (as the ASGI peer)."""

    @asynccontextmanager
    async def open_client(address: str, *, asgi: Any = None) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=asgi or app, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client

    return open_client


async def log_in(client: httpx.AsyncClient, password: str = "wrong-guess-1", **who: str) -> int:
    body = {**(who or {"username": "alice"}), "password": password}
    return (await client.post(LOGIN, json=body)).status_code


async def test_username_and_email_count_as_one_account(client: httpx.AsyncClient, api: Any) -> None:
    await api.sign_up()
    for _ in range(3):
        assert await log_in(client) == 401
    for _ in range(2):
        assert await log_in(client, email="ALICE@example.com") == 401
    assert await log_in(client, PASSWORD, email="alice@example.com") == 429
    assert await log_in(client, PASSWORD) == 429


async def test_nobody_locks_the_owner_out_from_elsewhere(
    client: httpx.AsyncClient, api: Any, connect: Connect
) -> None:
    await api.sign_up()
    await api.log_in()  # the owner signed in from 203.0.113.7 before
    statuses = []
    for n in range(15):  # 15 addresses, 3 guesses each: 45 guesses at her account
        async with connect(f"198.51.100.{n}") as attacker:
            statuses += [await log_in(attacker) for _ in range(3)]
    # Ten failures put the account under attack; from then on new addresses share one
    # attempt per 30 s: the eleventh guess, then nothing.
    assert statuses[:12] == [401] * 11 + [429]
    assert statuses.count(401) == 11
    assert await log_in(client, PASSWORD) == 200
    # A single address is locked out of her account after five guesses, not her.
    async with connect("192.0.2.99") as attacker:
        assert [await log_in(attacker, username="bob") for _ in range(6)][-1] == 429


async def test_a_crowded_address_spares_accounts_known_there(
    client: httpx.AsyncClient, api: Any
) -> None:
    await api.sign_up()
    await api.log_in()
    for n in range(20):
        assert await log_in(client, username=f"ghost{n}") == 401
    assert await log_in(client, username="someone-new") == 429
    assert await log_in(client, PASSWORD) == 200


async def test_reset_emails_are_capped_per_address_and_per_recipient(
    client: httpx.AsyncClient, api: Any, event_log: Any, connect: Connect
) -> None:
    await api.sign_up()
    await api.sign_up("bob")
    answers = await asyncio.gather(
        *(client.post(RESET, json={"email": "alice@example.com"}) for _ in range(20))
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.text for a in answers}) == 1  # the cap shows nothing
    await event_log.settle()
    assert len(event_log.of_type("taskflow.auth.password_reset.requested.v1")) == 3
    # The same address cannot go on with someone else...
    assert (await client.post(RESET, json={"email": "bob@example.com"})).status_code == 202
    # ...nor can many addresses flood one inbox.
    for n in range(10):
        async with connect(f"198.51.100.{n}") as elsewhere:
            sent = await elsewhere.post(RESET, json={"email": "bob@example.com"})
            assert sent.status_code == 202
    await event_log.settle()
    emails = [
        e.data["email"] for e in event_log.of_type("taskflow.auth.password_reset.requested.v1")
    ]
    assert sorted(emails) == ["alice@example.com"] * 3 + ["bob@example.com"] * 3


async def test_forwarded_for_is_believed_only_from_a_named_proxy(
    app: FastAPI, api: Any, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    # FastAPI types its ASGI arguments as plain mappings, uvicorn as TypedDicts: one app.
    asgi = cast(ASGI3Application, app)
    behind_uvicorn = ProxyHeadersMiddleware(asgi, trusted_hosts=trusted_proxies(ServiceSettings()))
    await api.sign_up()
    # A client naming a fresh address each time is still one address: the 30
    # guesses with fresh X-Forwarded-For values now meet the pair limit.
    async with connect("203.0.113.50", asgi=behind_uvicorn) as client:
        statuses = [
            (
                await client.post(
                    LOGIN,
                    json={"username": "alice", "password": "wrong-guess-1"},
                    headers={"X-Forwarded-For": f"10.9.{n}.1"},
                )
            ).status_code
            for n in range(8)
        ]
    assert statuses == [401] * 5 + [429] * 3
    # The gateway (127.0.0.1, trusted by default) names the real client: another one.
    async with connect("127.0.0.1", asgi=behind_uvicorn) as gateway:
        ok = await gateway.post(
            LOGIN,
            json={"username": "alice", "password": PASSWORD},
            headers={"X-Forwarded-For": "198.51.100.23"},
        )
        assert ok.status_code == 200
        spoofed = await gateway.post(
            LOGIN,
            json={"username": "alice", "password": PASSWORD},
            headers={"X-Forwarded-For": "203.0.113.50"},
        )
        assert spoofed.status_code == 429  # the locked address, as the gateway said


def test_a_wildcard_proxy_is_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8, *")
    with pytest.raises(SystemExit, match="FORWARDED_ALLOW_IPS"):
        trusted_proxies(ServiceSettings(environment="production"))
    assert trusted_proxies(ServiceSettings(environment="development")) == "10.0.0.0/8, *"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "172.30.80.10")
    assert trusted_proxies(ServiceSettings(environment="production")) == "172.30.80.10"
