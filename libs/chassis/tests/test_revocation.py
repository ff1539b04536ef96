"""Revoked tokens in every process: the list, its catch-up from auth, and the app's wiring."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import SecretStr
from taskflow_chassis.app import ServiceSpec, create_service_app
from taskflow_chassis.bus import create_bus
from taskflow_chassis.bus.memory import MemoryBus
from taskflow_chassis.config import ServiceSettings
from taskflow_chassis.events import new_event
from taskflow_chassis.problems import ProblemError
from taskflow_chassis.revocation import TOKENS_REVOKED, RevocationList, RevocationSync
from taskflow_chassis.security import CurrentUserId, TokenClaims
from taskflow_chassis.testing import TestTokens, app_running

DEMO = Path(__file__).parent / "demo_migrations"
NOW = 1_800_000_000.0


def fact(scope: str, key: str, *, until: float = NOW + 900, **extra: Any) -> dict[str, Any]:
    expires_at = datetime.fromtimestamp(until, UTC).isoformat()
    return {"scope": scope, "key": key, "user_id": str(uuid.uuid4()), "expires_at": expires_at,
            **extra}  # fmt: skip


def claims(user: str, *, jti: str = "j1", **raw: Any) -> TokenClaims:
    return TokenClaims(
        sub=user, jti=jti, type="access", iat=int(NOW), exp=int(NOW) + 900, iss="i", aud="a",
        raw={"sub": user, "jti": jti, **raw},
    )  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def test_each_scope_refuses_what_it_covers_and_nothing_else() -> None:
    user, other = str(uuid.uuid4()), str(uuid.uuid4())
    revoked = RevocationList(clock=Clock())
    revoked.add(fact("token", "logged-out"))
    revoked.add(fact("family", "fam-1"))
    revoked.add(fact("user", user, min_version=3))

    assert revoked.is_revoked(claims(other, jti="logged-out"))
    assert revoked.is_revoked(claims(other, jti="x", fam="fam-1"))
    assert not revoked.is_revoked(claims(other, jti="x", fam="fam-2", ver=0))
    assert revoked.is_revoked(claims(user, jti="x", ver=2))
    assert not revoked.is_revoked(claims(user, jti="x", ver=3))
    assert revoked.is_revoked(claims(user, jti="x"))  # no version: from before versions

    revoked.add(fact("user", user, min_version=1))  # an older change, arriving late
    assert revoked.is_revoked(claims(user, jti="x", ver=2))
    revoked.add(fact("user", user))  # deleted: every token of the user
    assert revoked.is_revoked(claims(user, jti="x", ver=99))


def test_an_entry_is_forgotten_once_nothing_it_covers_can_be_valid() -> None:
    clock = Clock()
    revoked = RevocationList(clock=clock)
    revoked.add(fact("token", "expired-already", until=NOW - 1))
    assert len(revoked) == 0
    revoked.add(fact("token", "a", until=NOW + 10))
    revoked.add(fact("family", "f", until=NOW + 10))
    revoked.add(fact("user", str(uuid.uuid4()), until=NOW + 10))
    clock.now = NOW + 3600
    revoked.add(fact("token", "b", until=NOW + 4000))  # sweeps on the way
    assert len(revoked) == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"scope": "token"},
        {**fact("session", "x")},
        {**fact("token", "x"), "expires_at": "not a time"},
        {**fact("token", "x"), "expires_at": "2030-01-01T00:00:00"},  # no zone
        {**fact("user", "u"), "min_version": "three"},
    ],
)
def test_a_malformed_revocation_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RevocationList(clock=Clock()).add(bad)


async def test_a_failed_load_is_retried_in_the_background(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[int] = []
    user = str(uuid.uuid4())

    async def load() -> list[dict[str, Any]]:
        attempts.append(1)
        if len(attempts) < 3:
            raise httpx.ConnectError("auth is away")
        return [fact("user", user, until=datetime.now(UTC).timestamp() + 900)]

    revoked = RevocationList()
    sync = RevocationSync(revoked, load, service="demo", first_retry_seconds=0.01)
    sync.reload()
    await sync.settle(5)
    assert "cannot load revoked tokens from auth" in caplog.text
    for _ in range(200):
        if sync.loads:
            break
        await asyncio.sleep(0.01)
    assert len(attempts) == 3 and sync.loads == 1
    assert revoked.is_revoked(claims(user))
    await sync.stop()


async def test_a_reload_asked_for_during_a_load_loads_again() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    loads: list[int] = []

    async def load() -> list[dict[str, Any]]:
        loads.append(1)
        started.set()
        await release.wait()
        return []

    sync = RevocationSync(RevocationList(), load, service="demo")
    sync.reload()
    await started.wait()
    sync.reload()  # e.g. a reconnect while the first load was under way
    release.set()
    for _ in range(200):
        if sync.loads == 2:
            break
        await asyncio.sleep(0.01)
    assert len(loads) == 2 and sync.loads == 2
    await sync.stop()


# --- wired into a service app -------------------------------------------------------------


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    tokens: TestTokens
    bus_url: str


router = APIRouter()


@router.get("/api/v1/me")
async def me(user_id: CurrentUserId) -> dict[str, str]:
    return {"id": str(user_id)}


def auth_answering(items: list[dict[str, Any]], seen_keys: list[str]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen_keys.append(request.headers.get("X-Service-Key", ""))
        assert request.url.path == "/internal/v1/revocations"
        return httpx.Response(200, json={"items": items})

    return httpx.MockTransport(answer)


@asynccontextmanager
async def running(tmp_path: Path, auth: httpx.AsyncBaseTransport) -> AsyncIterator[Service]:
    bus_url = f"memory://revocation-{uuid.uuid4().hex[:8]}"
    settings = ServiceSettings(
        service_name="demo",
        data_dir=tmp_path,
        event_bus_url=bus_url,
        internal_api_key=SecretStr("internal-key"),
    )
    tokens = TestTokens()
    app = create_service_app(
        ServiceSpec(
            name="demo",
            title="Demo",
            settings=settings,
            routers=[router],
            migrations_dir=DEMO,
            jwks_fetcher=tokens.jwks,
        )
    )
    app.state.auth_transport = auth
    async with app_running(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            yield Service(app, client, tokens, bus_url)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_process_refuses_what_auth_revoked_before_it_started(tmp_path: Path) -> None:
    user = uuid.uuid4()
    later = datetime.now(UTC) + timedelta(minutes=15)
    revoked = [{"scope": "user", "key": str(user), "user_id": str(user), "min_version": 1,
                "expires_at": later.isoformat()}]  # fmt: skip
    keys: list[str] = []
    async with running(tmp_path, auth_answering(revoked, keys)) as service:
        before = service.tokens.access_token(user, ver=0)
        after = service.tokens.access_token(user, ver=1)
        assert (await service.client.get("/api/v1/me", headers=bearer(before))).status_code == 401
        assert (await service.client.get("/api/v1/me", headers=bearer(after))).status_code == 200
    assert keys == ["internal-key"]


async def test_a_revocation_event_is_refused_at_the_next_request(tmp_path: Path) -> None:
    async with running(tmp_path, auth_answering([], [])) as service:
        user = uuid.uuid4()
        token = service.tokens.access_token(user, ver=0)
        assert (await service.client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        jti = jwt.decode(token, options={"verify_signature": False})["jti"]
        bus = create_bus(service.bus_url)
        assert isinstance(bus, MemoryBus)
        await bus.connect()
        expires_at = (datetime.now(UTC) + timedelta(minutes=15)).isoformat()
        data = {"scope": "token", "key": jti, "user_id": str(user), "expires_at": expires_at}
        await bus.publish(new_event(TOKENS_REVOKED, source="/taskflow/auth", data=data))
        await bus.drain()
        assert (await service.client.get("/api/v1/me", headers=bearer(token))).status_code == 401
        await bus.close()


async def test_a_process_starts_while_auth_is_away_and_loads_later(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    user = uuid.uuid4()
    later = datetime.now(UTC) + timedelta(minutes=15)
    revoked = [{"scope": "user", "key": str(user), "user_id": str(user),
                "expires_at": later.isoformat()}]  # fmt: skip
    away = True

    def answer(request: httpx.Request) -> httpx.Response:
        if away:
            raise httpx.ConnectError("connection refused")
        return httpx.Response(200, json={"items": revoked})

    caplog.set_level(logging.WARNING, "taskflow.revocation")
    async with running(tmp_path, httpx.MockTransport(answer)) as service:
        token = service.tokens.access_token(user, ver=0)
        assert (await service.client.get("/api/v1/me", headers=bearer(token))).status_code == 200
        assert "cannot load revoked tokens from auth" in caplog.text
        away = False
        for _ in range(100):
            response = await service.client.get("/api/v1/me", headers=bearer(token))
            if response.status_code == 401:
                break
            await asyncio.sleep(0.05)
        assert response.status_code == 401


async def test_api_tokens_wait_for_the_first_load_and_sessions_do_not() -> None:
    """Until auth's list is loaded a revoked personal API token cannot be told apart: 503
    (it may live a year); a session's access token (minutes) passes."""
    user = str(uuid.uuid4())
    api_token = replace(claims(user, jti="tok"), type="api")
    revoked = RevocationList(complete=False)
    with pytest.raises(ProblemError) as waiting:
        await revoked.check(api_token)
    assert (waiting.value.status, waiting.value.headers) == (503, {"Retry-After": "5"})
    await revoked.check(claims(user))
    sync = RevocationSync(revoked, _nothing_revoked, service="demo")
    await sync.load_once()
    assert revoked.complete
    await revoked.check(api_token)


async def _nothing_revoked() -> list[dict[str, Any]]:
    return []
