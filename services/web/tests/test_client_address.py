"""make dev: web calls the API in the same process (the dispatcher), and each browser is
still throttled as itself. The browser's address goes with web's calls as the gateway's
internal entry point keeps it (tests/system/test_client_address.py checks the gateway)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from taskflow_embedded.main import Dispatcher

from .conftest import ORIGIN, PASSWORD, Browser


def browser_at(dispatcher: Dispatcher, address: str, mail: Path) -> Browser:
    """A browser at ``address`` opening make dev's port (the dispatcher, web its fallback)."""
    transport = httpx.ASGITransport(app=dispatcher, client=(address, 50000))
    return Browser(httpx.AsyncClient(transport=transport, base_url=ORIGIN), mail)


async def test_one_browser_s_failed_log_ins_lock_only_its_own_address(
    embedded: Dispatcher, tmp_path: Path
) -> None:
    mail = tmp_path / "mail"
    mallory = browser_at(embedded, "203.0.113.41", mail)
    owner = browser_at(embedded, "203.0.113.42", mail)
    async with mallory.client, owner.client:
        await owner.sign_up("addressed")
        failures = [
            (await mallory.sign_in("addressed", "wrong-password")).status_code for _ in range(5)
        ]
        assert failures == [401] * 5
        locked = await mallory.sign_in("addressed", PASSWORD)
        assert locked.status_code == 429
        # The sign-in form, shown again, says when to try again as auth's answer did.
        assert int(locked.headers["retry-after"]) > 0
        # The owner, behind the same web app, still signs in.
        assert (await owner.sign_in("addressed")).status_code == 303


async def test_a_browser_cannot_name_its_own_address(embedded: Dispatcher, tmp_path: Path) -> None:
    """X-Real-Ip and X-Forwarded-For from a browser are not believed: make dev's server
    runs without proxy headers, and web names the address its server saw."""
    mail = tmp_path / "mail"
    spoofer = browser_at(embedded, "203.0.113.51", mail)
    claimed = {"X-Forwarded-For": "203.0.113.52", "X-Real-Ip": "203.0.113.52"}
    spoofer.client.headers.update(claimed)
    honest = browser_at(embedded, "203.0.113.52", mail)
    async with spoofer.client, honest.client:
        await honest.sign_up("claimant")
        for _ in range(5):
            assert (await spoofer.sign_in("claimant", "wrong-password")).status_code == 401
        assert (await spoofer.sign_in("claimant")).status_code == 429
        direct = await spoofer.client.post(
            "/api/v1/auth/jwt/create", json={"username": "claimant", "password": PASSWORD}
        )
        assert direct.status_code == 429
        assert (await honest.sign_in("claimant")).status_code == 303


async def test_the_audit_log_names_the_browser_a_sign_in_came_from(
    embedded: Dispatcher, tmp_path: Path
) -> None:
    """Web's calls carry the browser's User-Agent, so "Security activity" shows the browser,
    not web's own HTTP client."""
    browser = browser_at(embedded, "203.0.113.61", tmp_path / "mail")
    browser.client.headers["User-Agent"] = "Mozilla/5.0 (TaskFlowTest) Firefox/140.0"
    async with browser.client:
        await browser.sign_up("agented")
        assert (await browser.sign_in("agented")).status_code == 303
        for _ in range(100):  # the entry comes from an event, a moment after the log-in
            page = (await browser.get("/settings/security")).text
            if "TaskFlowTest" in page:
                break
            await asyncio.sleep(0.1)
        assert "Mozilla/5.0 (TaskFlowTest) Firefox/140.0" in page
        assert "python-httpx" not in page
