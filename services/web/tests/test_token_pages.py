"""The API tokens page (/settings/tokens): create with scopes, expiry and an optional team,
the token shown once with its Copy button, listed without it, used against the API,
revoked (refused at once); the API's refusals beside their fields; another person's token
is not theirs to revoke; a page with no session goes to sign-in. Against the real four
services of the embedded runtime."""

from __future__ import annotations

import html
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from taskflow_embedded.main import Dispatcher

from .conftest import ORIGIN, Browser, browser_for, participant

PAGE = "/settings/tokens"
SECRET = re.compile(r'id="token-secret" type="text" readonly value="(tfp_[^"]+)"')


def api_client(embedded: Dispatcher) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=embedded), base_url=ORIGIN)


async def test_create_list_use_and_revoke(
    embedded: Dispatcher, browser: Browser, tmp_path: Path
) -> None:
    async with api_client(embedded) as api:
        await participant(api, browser, "ada", "+14155550141")
        profile = await browser.get("/profile")
        assert 'href="/settings/tokens"' in profile.text
        page = await browser.get(PAGE)
        assert page.status_code == 200 and "No token yet." in page.text
        for scope in ("teams.read", "tasks.update", "profile.read", "notifications.read"):
            assert f'value="{scope}"' in page.text
        assert "<script>" not in page.text  # no inline script (the CSP forbids them)

        form: dict[str, Any] = {
            "name": "CI deploys",
            "scopes": ["profile.read", "teams.read"],
            "expires_in_days": "90",
        }
        created = await browser.post(PAGE, form)
        assert created.status_code == 201, created.text
        found = SECRET.search(created.text)
        assert found, created.text
        token = html.unescape(found.group(1))
        assert "data-copy=" in created.text and "tokens.js" in created.text

        # Listed, with its scopes and expiry, never with the secret again.
        listed = await browser.get(PAGE)
        assert "CI deploys" in listed.text and "profile.read, teams.read" in listed.text
        assert token not in listed.text and "never used" in listed.text

        # The token works against the API within its scopes, and not beyond them.
        key = {"Authorization": f"Bearer {token}"}
        me = await api.get("/api/v1/auth/users/me", headers=key)
        assert me.status_code == 200 and me.json()["username"] == "ada"
        assert (await api.get("/api/v1/teams", headers=key)).status_code == 200
        assert (await api.get("/api/v1/notifications", headers=key)).status_code == 403

        token_id = (
            await api.get(
                "/api/v1/tokens",
                headers={"Authorization": f"Bearer {await _session_token(api, 'ada')}"},
            )
        ).json()["items"][0]["id"]
        assert f"/settings/tokens/{token_id}/revoke" in listed.text
        assert "hx-confirm=" in listed.text
        revoked = await browser.post(f"{PAGE}/{token_id}/revoke")
        assert revoked.status_code == 303 and revoked.headers["location"] == PAGE
        after = await browser.get(PAGE)
        assert "is revoked" in after.text and "No token yet." in after.text
        assert (await api.get("/api/v1/auth/users/me", headers=key)).status_code == 401
        assert (await api.get("/api/v1/teams", headers=key)).status_code == 401
        again = await browser.post(f"{PAGE}/{token_id}/revoke")
        assert again.status_code == 303


async def _session_token(api: httpx.AsyncClient, name: str) -> str:
    login = await api.post(
        "/api/v1/auth/jwt/create", json={"username": name, "password": "correct-horse-battery"}
    )
    return str(login.json()["access"])


async def test_refusals_beside_their_fields(embedded: Dispatcher, browser: Browser) -> None:
    async with api_client(embedded) as api:
        await participant(api, browser, "bea", "+14155550142")
        await browser.get(PAGE)
        no_scope = await browser.post(PAGE, {"name": "Empty", "expires_in_days": "30"})
        assert no_scope.status_code == 422
        assert 'id="f-scopes-error"' in no_scope.text and 'value="Empty"' in no_scope.text
        too_long = await browser.post(
            PAGE, {"name": "Long", "scopes": "tasks.read", "expires_in_days": "400"}
        )
        assert too_long.status_code == 422
        assert 'id="f-expires_in_days-error"' in too_long.text
        # A token for one team holds no personal scope: said, and the choices kept.
        team = str(uuid.uuid4())
        mixed: dict[str, Any] = {
            "name": "Mixed",
            "scopes": ["tasks.read", "profile.read"],
            "expires_in_days": "30",
            "team_id": team,
        }
        personal = await browser.post(PAGE, mixed)
        assert personal.status_code == 422 and "personal scopes" in personal.text
        assert 'value="profile.read" checked' in personal.text
        unnamed = await browser.post(
            PAGE, {"name": "", "scopes": "tasks.read", "expires_in_days": "30"}
        )
        assert unnamed.status_code == 422 and 'id="f-name-error"' in unnamed.text
        assert "No token yet." in (await browser.get(PAGE)).text


async def test_another_persons_token_and_no_session(
    embedded: Dispatcher, browser: Browser, tmp_path: Path
) -> None:
    async with api_client(embedded) as api:
        await participant(api, browser, "cyd", "+14155550143")
        await browser.get(PAGE)
        made = await browser.post(
            PAGE, {"name": "Mine", "scopes": "profile.read", "expires_in_days": "7"}
        )
        assert made.status_code == 201
        token_id = re.search(r"/settings/tokens/([0-9a-f-]{36})/revoke", made.text)
        assert token_id
        other = browser_for(embedded.apps["web"], tmp_path / "mail")
        async with other.client:
            await participant(api, other, "dee", "+14155550144")
            await other.get(PAGE)
            refused = await other.post(f"{PAGE}/{token_id.group(1)}/revoke")
            assert refused.status_code == 303  # "already revoked": nothing of cyd's is touched
        assert "Mine" in (await browser.get(PAGE)).text
        stranger = browser_for(embedded.apps["web"], tmp_path / "mail")
        async with stranger.client:
            answer = await stranger.get(PAGE)
            assert answer.status_code in (302, 303) and "/login" in answer.headers["location"]
