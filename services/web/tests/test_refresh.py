"""Token refresh against the real auth service: an access token about to expire is
refreshed before the next call; two pages at once spend the rotating refresh token once;
a revoked refresh token ends the sign-in and sends the person to sign in again."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from taskflow_chassis.types import utcnow
from taskflow_embedded.main import Dispatcher
from taskflow_web.sessions.models import WebSession
from taskflow_web.sessions.service import Session, SessionStore

from .conftest import ORIGIN, Browser


async def _session(store: SessionStore, browser: Browser) -> Session:
    assert browser.cookie
    session = await store.load(browser.cookie)
    assert session is not None
    return session


async def _expire_access(web: FastAPI, session: Session) -> None:
    """The access token as if it ran out now (web refreshes within 30 s of the end)."""
    async with web.state.database.session() as db:
        await db.execute(
            update(WebSession)
            .where(WebSession.id_hash == session.id_hash)  # type: ignore[arg-type]
            .values(access_expires_at=utcnow() + timedelta(seconds=5))
        )
        await db.commit()


async def test_an_expiring_access_token_is_refreshed(
    browser: Browser, web: FastAPI, sessions: SessionStore
) -> None:
    await browser.sign_up("ida")
    await browser.sign_in("ida")
    before = await _session(sessions, browser)
    await _expire_access(web, before)

    page = await browser.get("/profile")
    assert page.status_code == 200, page.text
    after = await _session(sessions, browser)
    assert after.refresh_token != before.refresh_token
    assert after.access_token != before.access_token
    assert after.access_expires_at and after.access_expires_at > utcnow() + timedelta(minutes=5)


async def test_two_pages_at_once_refresh_once(
    browser: Browser, web: FastAPI, sessions: SessionStore
) -> None:
    await browser.sign_up("jon")
    await browser.sign_in("jon")
    before = await _session(sessions, browser)
    await _expire_access(web, before)

    pages = await asyncio.gather(*(browser.client.get("/profile") for _ in range(4)))
    assert [p.status_code for p in pages] == [200] * 4
    # The family lives on: auth saw no reuse of a spent refresh token.
    assert (await browser.get("/profile")).status_code == 200
    await _expire_access(web, await _session(sessions, browser))
    assert (await browser.get("/teams")).status_code == 200


async def test_a_revoked_refresh_token_signs_out(
    browser: Browser, web: FastAPI, sessions: SessionStore, embedded: Dispatcher
) -> None:
    await browser.sign_up("kim")
    await browser.sign_in("kim")
    session = await _session(sessions, browser)
    # Signed out elsewhere (auth's log-out revokes the refresh token's family).
    transport = httpx.ASGITransport(app=embedded)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as api:
        revoked = await api.post(
            "/api/v1/auth/jwt/revoke",
            json={"refresh": session.refresh_token},
            headers={"Authorization": f"Bearer {session.access_token}"},
        )
        assert revoked.status_code == 204, revoked.text
    await _expire_access(web, session)

    page = await browser.get("/profile")
    assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Fprofile"
    login = await browser.get(page.headers["location"])
    assert "Your session has ended" in login.text
    after = await _session(sessions, browser)
    assert not after.signed_in and after.access_token is None
    assert "Your session has ended" not in (await browser.get("/login")).text  # shown once


async def test_a_401_is_refreshed_once_and_retried(
    browser: Browser, web: FastAPI, sessions: SessionStore
) -> None:
    """An access token the API refuses before its time (revoked on its own) is refreshed
    and the call retried: the page still opens."""
    await browser.sign_up("lea")
    await browser.sign_in("lea")
    session = await _session(sessions, browser)
    # An access token auth does not accept (as one revoked on its own would be).
    async with web.state.database.session() as db:
        await db.execute(
            update(WebSession)
            .where(WebSession.id_hash == session.id_hash)  # type: ignore[arg-type]
            .values(access_token=sessions.cipher.encrypt("not-a-valid-token"))
        )
        await db.commit()
    page = await browser.get("/profile")
    assert page.status_code == 200, page.text
    assert (await _session(sessions, browser)).refresh_token != session.refresh_token
