"""The audit pages as people use them: one's own security activity (sign-ins, a failed
sign-in, load more, filters, a filter refused beside its field), and a team's audit log
for its leader (the link on the team page, members joining and changing role, the actor
filter), a developer without audit.read (no link, 403) and an outsider (404); against the
real four services of the embedded runtime, whose auth and teams record the events."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from .conftest import (
    ORIGIN,
    PASSWORD,
    Browser,
    browser_for,
    embedded_runtime,
    participant,
    team_with_member,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

OWN = "/settings/security"


@dataclass
class World:
    api: httpx.AsyncClient
    web: FastAPI
    mail: Path
    ada: Browser  # leads the team: audit.read among every permission
    bob: Browser  # a Developer
    eve: Browser  # in no team of ada's
    tokens: dict[str, str]
    team_id: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    data = tmp_path_factory.mktemp("audit-pages")
    async with embedded_runtime(data) as dispatcher:
        mail = data / "mail"
        web = dispatcher.apps["web"]
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=dispatcher), base_url=ORIGIN)
        ada, bob, eve = (browser_for(web, mail) for _ in range(3))
        async with api, ada.client, bob.client, eve.client:
            tokens = {
                "ada": await participant(api, ada, "ada", "+14155550141"),
                "bob": await participant(api, bob, "bob", "+14155550142"),
                "eve": await participant(api, eve, "eve", "+14155550143"),
            }
            team_id = await team_with_member(
                api, mail, tokens["ada"], tokens["bob"], "bob@example.com", "Developer"
            )
            yield World(api, web, mail, ada, bob, eve, tokens, team_id)


async def _page_until(browser: Browser, path: str, text: str, **params: object) -> str:
    """The page once it shows ``text`` (entries come from events, a moment later)."""
    for _ in range(300):
        page = await browser.get(path, params=params)
        assert page.status_code == 200, page.text
        if text in page.text:
            return page.text
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} never shown on {path}")


def _entries(page: str) -> list[str]:
    """The kinds of the entries a page lists, in order."""
    return re.findall(r'class="list-item audit-entry" id="a-[^"]+" data-kind="([^"]+)"', page)


async def test_own_activity_shows_sign_ins_and_a_failed_one(world: World) -> None:
    # Someone on another browser tries eve's account with a wrong password.
    stranger = browser_for(world.web, world.mail)
    async with stranger.client:
        refused = await stranger.sign_in("eve", "not-the-password")
        assert refused.status_code == 401, refused.text
    page = await _page_until(world.eve, OWN, 'data-kind="login.failed"')
    assert "Security activity" in page and "as “eve”" in page
    kinds = _entries(page)
    # Newest first: the failed attempt, then eve's own sign-ins (the test's and the page's).
    assert kinds[0] == "login.failed" and "login.succeeded" in kinds[1:]
    # The profile page links here.
    profile = await world.eve.get("/profile")
    assert f'href="{OWN}"' in profile.text
    # Nobody else's entries: ada's log has no failed sign-in of eve's.
    assert "login.failed" not in _entries((await world.ada.get(OWN)).text)


async def test_own_filters_and_load_more(world: World) -> None:
    # Thirty more sign-ins through the API: more than one page.
    for _ in range(30):
        login = await world.api.post(
            "/api/v1/auth/jwt/create", json={"username": "bob", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
    page = await _page_until(world.bob, OWN, "Load more", kind="login.succeeded")
    first = _entries(page)
    assert first and set(first) == {"login.succeeded"}
    assert 'type="checkbox" name="kind" value="login.succeeded" checked' in page
    more = re.search(r'<a href="([^"]+)" hx-get="([^"]+)"', page)
    assert more, page
    # Without scripts: the link is the next page, filters kept.
    following = await world.bob.get(html.unescape(more.group(1)))
    assert following.status_code == 200
    assert set(_entries(following.text)) == {"login.succeeded"}
    # With htmx: the fragment holds the next entries and the next "Load more" (out of band).
    fragment = await world.bob.get(html.unescape(more.group(2)), headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert _entries(fragment.text) == _entries(following.text)
    assert 'id="load-more"' in fragment.text and 'hx-swap-oob="true"' in fragment.text
    ids = re.findall(r'id="a-([^"]+)"', page) + re.findall(r'id="a-([^"]+)"', following.text)
    assert len(ids) == len(set(ids))


async def test_a_refused_filter_shows_beside_its_field(world: World) -> None:
    backwards = await world.ada.get(OWN, params={"since": "2026-11-02", "until": "2026-11-01"})
    assert backwards.status_code == 422
    assert 'id="f-until-error"' in backwards.text and 'aria-invalid="true"' in backwards.text
    assert 'value="2026-11-02"' in backwards.text  # what was typed, shown again
    garbled = await world.ada.get(OWN, params={"since": "yesterday"})
    assert garbled.status_code == 422 and 'id="f-since-error"' in garbled.text
    unknown = await world.ada.get(OWN, params={"kind": "coffee.made"})
    assert unknown.status_code == 422 and 'id="f-kind-error"' in unknown.text
    # A window that holds nothing is no error: an empty list.
    empty = await world.ada.get(OWN, params={"since": "2026-01-01", "until": "2026-01-02"})
    assert empty.status_code == 200 and "Nothing matches these filters." in empty.text


async def test_who_sees_the_team_log(world: World) -> None:
    base = f"/teams/{world.team_id}/audit"
    leader_team = await world.ada.get(f"/teams/{world.team_id}")
    assert leader_team.status_code == 200 and f'href="{base}"' in leader_team.text
    developer_team = await world.bob.get(f"/teams/{world.team_id}")
    assert developer_team.status_code == 200 and f'href="{base}"' not in developer_team.text
    assert (await world.bob.get(base)).status_code == 403
    assert (await world.eve.get(base)).status_code == 404
    assert (await world.eve.get(f"{base}/more")).status_code == 404


async def test_the_team_log_for_its_leader(world: World) -> None:
    base = f"/teams/{world.team_id}/audit"
    key = {"Authorization": f"Bearer {world.tokens['ada']}"}
    members = await world.api.get(f"/api/v1/teams/{world.team_id}/members", headers=key)
    bob_id = next(m["user_id"] for m in members.json()["items"] if m["username"] == "bob")
    roles = await world.api.get(f"/api/v1/teams/{world.team_id}/roles", headers=key)
    reviewer = next(r["id"] for r in roles.json()["items"] if r["name"] == "Reviewer")
    changed = await world.api.patch(
        f"/api/v1/teams/{world.team_id}/members/{bob_id}", headers=key, json={"role_id": reviewer}
    )
    assert changed.status_code == 200, changed.text
    page = await _page_until(world.ada, base, 'data-kind="member.role_changed"')
    assert "from Developer to Reviewer" in page
    kinds = _entries(page)
    assert kinds[0] == "member.role_changed"
    assert {"member.joined", "invitation.accepted"} <= set(kinds)
    assert "login.succeeded" not in kinds  # sign-ins are personal
    assert "by you" in page and "concerning bob" in page
    # Only what bob did: his joining and his acceptance.
    by_bob = await world.ada.get(base, params={"actor": bob_id})
    assert by_bob.status_code == 200
    assert set(_entries(by_bob.text)) == {"member.joined", "invitation.accepted"}
    assert f'value="{bob_id}" selected' in by_bob.text
    only_roles = await world.ada.get(base, params={"kind": "member.role_changed"})
    assert _entries(only_roles.text) == ["member.role_changed"]
    # Bob sees the change in his own activity, done by ada.
    own = await _page_until(world.bob, OWN, 'data-kind="member.role_changed"')
    assert "by ada" in own
