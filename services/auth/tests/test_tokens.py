"""Token pairs: rotation, reuse detection, logout, password change, forwardAuth."""

from __future__ import annotations

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
