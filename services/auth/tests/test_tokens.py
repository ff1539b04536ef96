"""Token pairs: rotation, reuse detection, logout, password change, forwardAuth."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, update
from sqlmodel import col, select
from taskflow_auth.sessions.scheduled import purge_expired
from taskflow_auth.tokens.models import RefreshToken, RevokedAccessToken
from taskflow_chassis.types import utcnow
from taskflow_chassis.unit_of_work import UnitOfWork


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/auth/jwt/refresh", json={"refresh": token})


async def forward_auth(client: httpx.AsyncClient, access: str) -> httpx.Response:
    return await client.get("/api/v1/auth/verify", headers={"Authorization": f"Bearer {access}"})


async def test_refresh_rotates_the_pair(client: httpx.AsyncClient, api: Any) -> None:
    await api.sign_up()
    first = await api.log_in()
    rotated = await refresh(client, first["refresh"])
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh"] != first["refresh"] and second["access"] != first["access"]
    assert (
        await client.get("/api/v1/auth/users/me", headers=api.bearer(second))
    ).status_code == 200


async def test_reusing_a_rotated_refresh_token_revokes_its_family(
    client: httpx.AsyncClient, api: Any
) -> None:
    await api.sign_up()
    first = await api.log_in()
    other_session = await api.log_in()
    second = (await refresh(client, first["refresh"])).json()
    reused = await refresh(client, first["refresh"])
    assert reused.status_code == 401
    # The thief's copy and the legitimate successor are both dead now...
    assert (await refresh(client, second["refresh"])).status_code == 401
    # ...but another login (another family) is untouched.
    assert (await refresh(client, other_session["refresh"])).status_code == 200


async def test_access_token_is_not_a_refresh_token(client: httpx.AsyncClient, api: Any) -> None:
    await api.sign_up()
    tokens = await api.log_in()
    assert (await refresh(client, tokens["access"])).status_code == 401
    garbage = await refresh(client, "not.a.jwt")
    assert garbage.status_code == 401


async def test_logout_revokes_refresh_and_access(client: httpx.AsyncClient, api: Any) -> None:
    await api.sign_up()
    tokens = await api.log_in()
    assert (await forward_auth(client, tokens["access"])).status_code == 200
    out = await client.post(
        "/api/v1/auth/jwt/revoke", headers=api.bearer(tokens), json={"refresh": tokens["refresh"]}
    )
    assert out.status_code == 204
    assert (await refresh(client, tokens["refresh"])).status_code == 401
    assert (await forward_auth(client, tokens["access"])).status_code == 401
    assert (
        await client.get("/api/v1/auth/users/me", headers=api.bearer(tokens))
    ).status_code == 401
    verify = await client.post("/api/v1/auth/jwt/verify", json={"token": tokens["access"]})
    assert verify.status_code == 401


async def test_password_change_revokes_tokens(client: httpx.AsyncClient, api: Any) -> None:
    await api.sign_up()
    tokens = await api.log_in()
    wrong = await client.post(
        "/api/v1/auth/users/set_password",
        headers=api.bearer(tokens),
        json={"current_password": "not-the-password", "new_password": "a-brand-new-secret"},
    )
    assert wrong.status_code == 403
    changed = await client.post(
        "/api/v1/auth/users/set_password",
        headers=api.bearer(tokens),
        json={"current_password": api.password, "new_password": "a-brand-new-secret"},
    )
    assert changed.status_code == 204
    assert (await refresh(client, tokens["refresh"])).status_code == 401
    assert (await forward_auth(client, tokens["access"])).status_code == 401
    fresh = await api.log_in(password="a-brand-new-secret")
    assert (await forward_auth(client, fresh["access"])).status_code == 200
    old = await client.post(
        "/api/v1/auth/jwt/create", json={"username": "alice", "password": api.password}
    )
    assert old.status_code == 401


async def test_log_out_everywhere_ends_every_session_but_api_tokens(
    client: httpx.AsyncClient, api: Any, event_log: Any
) -> None:
    await api.sign_up()
    here, elsewhere = await api.log_in(), await api.log_in()
    made = await client.post(
        "/api/v1/tokens",
        headers=api.bearer(here),
        json={"name": "CI", "scopes": ["profile.read"], "expires_in_days": 30},
    )
    assert made.status_code == 201, made.text
    api_token = made.json()["token"]
    assert (await client.post("/api/v1/auth/jwt/revoke_all")).status_code == 401
    out = await client.post("/api/v1/auth/jwt/revoke_all", headers=api.bearer(here))
    assert out.status_code == 204, out.text
    for session in (here, elsewhere):
        assert (await refresh(client, session["refresh"])).status_code == 401
        assert (await forward_auth(client, session["access"])).status_code == 401
    again = await client.post("/api/v1/auth/jwt/revoke_all", headers=api.bearer(here))
    assert again.status_code == 401  # its own access token died with the rest
    # A script's personal API token lives on; a new log-in works.
    assert (await forward_auth(client, api_token)).status_code == 200
    fresh = await api.log_in()
    assert (await forward_auth(client, fresh["access"])).status_code == 200
    await event_log.settle()
    ended = [e.data for e in event_log.of_type("taskflow.auth.tokens.revoked.v1")]
    assert [(e["scope"], e["min_version"]) for e in ended] == [("user", 1)]


async def test_ending_every_session_builds_on_the_version_as_it_stands(
    client: httpx.AsyncClient, api: Any, app: Any
) -> None:
    """An account read before another ending committed (as a request's is, before it holds
    the row) still raises the version above that ending's: neither spares a session."""
    from taskflow_auth.sessions.service import log_out_everywhere
    from taskflow_auth.users.models import User

    user = await api.sign_up()
    database, deps, publisher = app.state.database, app.state.auth_deps, app.state.publisher
    async with database.session() as request:
        stale = await request.get(User, uuid.UUID(user["id"]))  # as CurrentUser reads it
        assert stale is not None and stale.token_version == 0
        async with database.session() as other:
            current = await other.get(User, stale.id)
            assert current is not None
            await log_out_everywhere(deps, UnitOfWork(other, publisher), current)
        await log_out_everywhere(deps, UnitOfWork(request, publisher), stale)
        assert stale.token_version == 2
    async with database.session() as check:
        version = await check.scalar(select(User.token_version).where(col(User.id) == stale.id))
    assert version == 2


async def test_forward_auth_answers_user_id(client: httpx.AsyncClient, api: Any) -> None:
    user = await api.sign_up()
    tokens = await api.log_in()
    ok = await forward_auth(client, tokens["access"])
    assert ok.status_code == 200 and ok.headers["X-User-Id"] == user["id"]
    assert (await client.get("/api/v1/auth/verify")).status_code == 401
    spoofed = await client.get(
        "/api/v1/auth/verify", headers={"X-User-Id": user["id"], "X-Forwarded-User": user["id"]}
    )
    assert spoofed.status_code == 401
    assert (await forward_auth(client, tokens["refresh"])).status_code == 401


async def test_jwt_verify_endpoint(client: httpx.AsyncClient, api: Any) -> None:
    await api.sign_up()
    tokens = await api.log_in()
    assert (
        await client.post("/api/v1/auth/jwt/verify", json={"token": tokens["access"]})
    ).status_code == 200
    tampered = tokens["access"][:-4] + ("AAAA" if not tokens["access"].endswith("AAAA") else "BBBB")
    assert (
        await client.post("/api/v1/auth/jwt/verify", json={"token": tampered})
    ).status_code == 401


async def test_purge_forgets_only_expired_tokens(
    client: httpx.AsyncClient, api: Any, app: Any
) -> None:
    await api.sign_up()
    tokens = await api.log_in()
    await api.log_in()
    await client.post(
        "/api/v1/auth/jwt/revoke", headers=api.bearer(tokens), json={"refresh": tokens["refresh"]}
    )
    async with app.state.database.session() as session:
        first = (await session.execute(select(RefreshToken.jti).limit(1))).scalar_one()
        await session.execute(
            update(RefreshToken).where(col(RefreshToken.jti) == first).values(expires_at=utcnow())
        )
        await session.execute(update(RevokedAccessToken).values(expires_at=utcnow()))
        await session.commit()
        await purge_expired(UnitOfWork(session, app.state.publisher))
        assert (
            await session.execute(select(func.count()).select_from(RefreshToken))
        ).scalar_one() == 1
        assert (
            await session.execute(select(func.count()).select_from(RevokedAccessToken))
        ).scalar_one() == 0
