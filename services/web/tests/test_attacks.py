"""The web app attacked: an outsider, a bot without cookies, a forged or stolen cookie,
links and redirects that try to leave the site, and requests a browser sends that no page
was written for (HEAD). Each test is a finding that was fixed, or an attack that held."""

from __future__ import annotations

import asyncio
import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import func, select
from taskflow_web.pages.service import TEMPLATES_DIR
from taskflow_web.sessions.models import WebSession

from .conftest import (
    ORIGIN,
    PASSWORD,
    Browser,
    browser_for,
    embedded_runtime,
    form_version,
    participant,
    task_in_new_team,
    until_status,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

TASK = "00000000-0000-0000-0000-000000000001"


@dataclass
class World:
    web: FastAPI
    api: httpx.AsyncClient
    ada: Browser  # signed in
    mail: Path
    tokens: dict[str, str]

    def stranger(self, cookie: bytes | None = None) -> httpx.AsyncClient:
        """A client that keeps no cookie (a bot), or sends exactly ``cookie``."""
        headers = {b"Cookie": b"taskflow_session=" + cookie} if cookie is not None else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.web), base_url=ORIGIN, headers=headers
        )

    async def session_rows(self) -> int:
        async with self.web.state.sessions.database.session() as session:
            return int(
                (await session.execute(select(func.count()).select_from(WebSession))).scalar_one()
            )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    data = tmp_path_factory.mktemp("attacks")
    async with embedded_runtime(data) as dispatcher:
        mail = data / "mail"
        web = dispatcher.apps["web"]
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=dispatcher), base_url=ORIGIN)
        ada = browser_for(web, mail)
        async with api, ada.client:
            token = await participant(api, ada, "ada", "+14155550111")
            yield World(web, api, ada, mail, {"ada": token})


async def test_a_bot_without_cookies_writes_no_session_rows(world: World) -> None:
    """Every cookie-less visit used to insert an anonymous session (for its CSRF token):
    a bot fetching /login in a loop grew the table without bound. Now an anonymous
    session is a row only once it keeps something (a message for the next page)."""
    before = await world.session_rows()
    async with world.stranger() as bot:
        for _ in range(30):
            answer = await bot.get("/login")
            assert answer.status_code == 200
            assert "taskflow_session=" in answer.headers["set-cookie"]
            bot.cookies.clear()
    assert await world.session_rows() == before


async def test_an_anonymous_session_still_signs_in_and_keeps_a_message(world: World) -> None:
    visitor = browser_for(world.web, world.mail)
    async with visitor.client:
        await visitor.get("/login")
        planted = visitor.cookie
        again = await visitor.get("/login")  # the same session: the same form token
        assert visitor.cookie == planted and "set-cookie" not in again.headers
        # A message for the next page makes it a row; it is shown once.
        asked = await visitor.post("/forgot-password", {"email": "nobody@example.com"})
        assert asked.status_code == 303, asked.text
        shown = await visitor.get("/login")
        assert "reset link is on its way" in shown.text
        assert "reset link is on its way" not in (await visitor.get("/login")).text
        signed = await visitor.sign_in("ada")
        assert signed.status_code == 303 and visitor.cookie != planted  # rotated
        assert (await visitor.get("/teams")).status_code == 200


@pytest.mark.parametrize(
    "cookie", [b"garbage", b"", b"a" * 5000, b"%00", b"\xc3\xa9", b"x;y", b"A" * 43]
)
async def test_a_forged_cookie_is_a_new_anonymous_session(world: World, cookie: bytes) -> None:
    async with world.stranger(cookie) as forger:
        page = await forger.get("/teams")
        assert page.status_code == 303 and page.headers["location"].startswith("/login")
        login = await forger.get("/login")
        assert login.status_code == 200


async def test_head_answers_like_get_without_a_body(world: World) -> None:
    """HEAD (link checkers, proxies, curl -I) answered 405 on every page."""
    for path in ("/teams", "/profile", "/notifications"):
        got = await world.ada.client.get(path)
        head = await world.ada.client.head(path)
        assert head.status_code == got.status_code == 200, (path, head.status_code)
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["cache-control"] == "no-store"
    async with world.stranger() as bot:
        assert (await bot.head("/teams")).status_code == 303
        assert (await bot.head("/login")).status_code == 200
        assert (await bot.head("/no-such-page")).status_code == 404


def _is_page(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("text/html"), answer.text
    assert answer.headers["cache-control"] == "no-store"


async def test_refusals_below_the_routes_are_pages(world: World) -> None:
    """The chassis' edge limits answered a browser with a JSON problem document: a form
    over the body limit (413), an address too long (414), text that is not text (400)."""
    await world.ada.get("/teams")
    big = await world.ada.post("/teams", {"name": "Big", "description": "d" * 1_100_000})
    _is_page(big, 413)
    assert "limited to 1048576 bytes" in big.text
    long = await world.ada.get("/teams?x=" + "a" * 9000)
    _is_page(long, 414)
    assert long.headers["x-correlation-id"] in long.text
    _is_page(await world.ada.get("/teams?x=%00"), 422)
    async with world.stranger() as bot:
        _is_page(await bot.get("/login?next=" + "a" * 9000), 414)


async def test_an_unexpected_error_is_a_page(world: World) -> None:
    """A bug (here a route that fails) is logged by the chassis as before, and the
    browser gets the error page with the correlation id, not a JSON document."""

    async def broken() -> None:
        raise RuntimeError("a bug")

    world.web.add_api_route("/test-broken", broken)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=world.web, raise_app_exceptions=False), base_url=ORIGIN
    ) as client:
        answer = await client.get("/test-broken", headers={"X-Correlation-Id": "cid-123"})
    _is_page(answer, 500)
    assert "cid-123" in answer.text


async def test_a_form_posted_after_the_session_ended_comes_back_to_a_page(world: World) -> None:
    """A form posted once the session has ended asks to sign in, then goes back to the
    page the form belongs to: its own address answers only POST (it was a 405 page)."""
    visitor = browser_for(world.web, world.mail)
    async with visitor.client:
        await visitor.get("/login")
        for action, page in (
            ("/notifications/read-all", "/notifications"),
            (f"/tasks/{TASK}/move", f"/tasks/{TASK}"),
            (f"/teams/{TASK}/members/{TASK}/role", f"/teams/{TASK}"),
            ("/profile", "/profile"),
        ):
            asked = await visitor.post(action, {})
            assert asked.status_code == 303, asked.text
            assert asked.headers["location"] == "/login?" + urlencode({"next": page})


XSS = '"><script>alert(1)</script><img src=x onerror=alert(1)>'


async def test_what_people_type_is_shown_as_text_everywhere(world: World) -> None:
    """Held: ``"><script>`` in every field a person types, through the real API, is text
    on every page (Jinja's autoescape, no ``|safe``), inside attributes too."""
    key = {"Authorization": f"Bearer {world.tokens['ada']}"}

    async def made(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = await until_status(lambda: world.api.post(path, headers=key, json=body), 201)
        found: dict[str, Any] = answer.json()
        return found

    team = await made("/api/v1/teams", {"name": "T" + XSS[:60], "description": XSS})
    project = await made(
        "/api/v1/projects", {"team_id": team["id"], "name": "P" + XSS[:60], "description": XSS}
    )
    task = await made(
        f"/api/v1/projects/{project['id']}/tasks",
        {"title": "T" + XSS, "description": XSS, "labels": ['"><b>x']},
    )
    await made(f"/api/v1/tasks/{task['id']}/comments", {"body": XSS})
    # A display name and a form's echo of what was typed.
    profile = await world.ada.get("/profile")
    version = re.search(r'name="version" value="([^"]+)"', profile.text)
    assert version, profile.text
    saved = await world.ada.post(
        "/profile",
        {
            "display_name": XSS[:60],
            "phone_number": "+1 415 555 0111",
            "region": "",
            "version": html.unescape(version.group(1)),
        },
    )
    assert saved.status_code in {200, 303}, saved.text
    echoed = await world.ada.post("/teams", {"name": " ", "description": XSS})
    assert echoed.status_code == 422
    pages = [
        echoed,
        *[
            await world.ada.get(path)
            for path in (
                "/teams",
                f"/teams/{team['id']}",
                f"/teams/{team['id']}/projects",
                f"/teams/{team['id']}/roles",
                f"/projects/{project['id']}",
                f"/projects/{project['id']}/tasks?search={XSS}",
                f"/tasks/{task['id']}",
                "/profile",
                f"/signup/check-email?email={XSS}",
                f"/invitations/accept?token={XSS[:40]}",
            )
        ],
    ]
    for page in pages:
        assert page.status_code < 500, page.text
        for raw in ("<script>alert", "<img src=x", "<b>x"):
            assert raw not in page.text, (page.url, raw)
    autoescape = world.web.state.renderer.templates.env.autoescape
    for template in TEMPLATES_DIR.rglob("*.html"):
        name = template.relative_to(TEMPLATES_DIR).as_posix()
        assert autoescape(name) if callable(autoescape) else autoescape, name
        text = template.read_text()
        assert "|safe" not in text.replace(" ", "") and "autoescape false" not in text, template


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "%2F%2Fevil.example",
        " //evil.example",
        "///evil.example",
        "http:/evil.example",
        "/login",
    ],
)
async def test_next_never_leaves_the_site(world: World, target: str) -> None:
    """Held: after sign-in (and for a signed-in person opening /login, and from sign-up
    to the check-email page's sign-in link), next= is a path on this site or /teams."""
    visitor = browser_for(world.web, world.mail)
    async with visitor.client:
        await visitor.get("/login")
        signed = await visitor.post(
            "/login", {"username": "ada", "password": PASSWORD, "next": target}
        )
        assert signed.headers["location"] == "/teams", target
        again = await visitor.get("/login", params={"next": target})
        assert again.headers["location"] == "/teams", target
    check = await world.ada.get("/signup/check-email", params={"email": "a@b.c", "next": target})
    assert 'href="/login?next=%2Fteams"' in check.text, target


async def test_a_form_sent_twice_at_once_makes_one_thing(world: World) -> None:
    """A double click (or a reload that resends) posts the same form twice at the same
    instant: web sends the API one Idempotency-Key for one rendering of a form, so the
    second gets the first one's answer instead of making a second team."""
    page = await world.ada.get("/teams")
    assert page.status_code == 200
    form = {"csrf_token": world.ada.csrf, "name": "Twice", "description": "clicked twice"}

    async def send() -> httpx.Response:
        return await world.ada.client.post("/teams", data=form, headers={"Origin": ORIGIN})

    first, second = await asyncio.gather(send(), send())
    assert first.status_code == second.status_code == 303, (first.text, second.text)
    assert first.headers["location"] == second.headers["location"]
    again = await send()  # later, the same rendering: still the same team
    assert again.headers["location"] == first.headers["location"]
    listed = await world.ada.get("/teams")
    assert listed.text.count(">Twice<") == 1, listed.text
    # A new rendering of the form is a new intent: a second team of the same name.
    await world.ada.get("/teams")
    other = await world.ada.post("/teams", {"name": "Twice", "description": "clicked twice"})
    assert other.status_code == 303 and other.headers["location"] != first.headers["location"]


async def test_sign_out_ends_the_session_and_its_tokens(world: World) -> None:
    """Held: a cookie copied before sign-out is worth nothing after it, and auth refuses
    the tokens it held; every Set-Cookie on the way carries the cookie's flags."""
    visitor = browser_for(world.web, world.mail)
    async with visitor.client:
        signed = await visitor.sign_in("ada")
        stolen = visitor.cookie
        assert stolen is not None
        held = await world.web.state.sessions.load(stolen)
        assert held is not None and held.signed_in
        await visitor.get("/teams")
        out = await visitor.post("/logout")
        assert out.status_code == 303
        for answer in (signed, out):
            for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"):
                assert flag in answer.headers["set-cookie"], answer.headers["set-cookie"]
    async with world.stranger(stolen.encode()) as thief:
        assert (await thief.get("/teams")).headers["location"] == "/login?next=%2Fteams"
    me = await world.api.get(
        "/api/v1/auth/users/me", headers={"Authorization": f"Bearer {held.access_token}"}
    )
    assert me.status_code == 401
    refreshed = await world.api.post(
        "/api/v1/auth/jwt/refresh", json={"refresh": held.refresh_token}
    )
    assert refreshed.status_code == 401


async def test_a_change_sent_twice_at_once_is_saved_not_refused(world: World) -> None:
    """A double click on Save sends the same change twice on the version the page showed:
    the second used to reach the API after the first had changed the version and said
    "changed by someone else" (412) about the person's own change. One rendering of a
    form's change now runs once; the second sending waits for it and shares its answer."""
    task = await task_in_new_team(world.api, world.tokens["ada"], "Edits")
    path = f"/tasks/{task['id']}"
    page = await world.ada.get(path)
    data = {
        "csrf_token": world.ada.csrf,
        "title": "Final",
        "status": "todo",
        "priority": "medium",
        "version": form_version(page.text, path),
    }

    async def save() -> httpx.Response:
        return await world.ada.client.post(path, data=data, headers={"Origin": ORIGIN})

    first, second = await asyncio.gather(save(), save())
    assert (first.status_code, second.status_code) == (303, 303), second.text
    shown = await world.ada.get(path)
    assert "Final" in shown.text and "changed by someone else" not in shown.text


async def test_careless_requests_get_pages(world: World) -> None:
    """Malformed forms, wrong methods and unknown paths answer an HTML page (never a 500
    or a JSON document); a 405 names the methods the address takes (Allow)."""
    await world.ada.get("/teams")
    token = world.ada.csrf
    origin = {"Origin": ORIGIN}
    posts: dict[str, dict[str, Any]] = {
        "missing fields": {"data": {"csrf_token": token}},
        "a wrong type": {"data": {"csrf_token": token, "user_id": "not-a-uuid"}},
        "not UTF-8": {
            "content": b"csrf_token=" + token.encode() + b"&name=\xff\xfe",
            "headers": {**origin, "Content-Type": "application/x-www-form-urlencoded"},
        },
        "JSON, not a form": {"json": {"name": "x"}, "headers": {**origin, "X-CSRF-Token": token}},
    }
    for what, request in posts.items():
        request.setdefault("headers", origin)
        path = f"/tasks/{TASK}/assignees" if what == "a wrong type" else "/teams"
        answer = await world.ada.client.post(path, **request)
        assert 400 <= answer.status_code < 500, (what, answer.status_code)
        assert answer.headers["content-type"].startswith("text/html"), what
    repeated = await world.ada.client.post(
        "/teams",
        content=f"csrf_token={token}&name=One&name=Two&description=".encode(),
        headers={**origin, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert repeated.status_code in {303, 422}, repeated.text
    wrong = await world.ada.client.get("/logout")
    _is_page(wrong, 405)
    assert wrong.headers["allow"] == "POST"
    _is_page(await world.ada.client.delete("/teams"), 405)
    _is_page(await world.ada.client.get("/no/such/page"), 404)


async def test_an_idempotency_key_on_a_form_is_ignored(world: World) -> None:
    """The header belongs to the API; a client that sends it to a page's form gets the page's
    answer (it once met the API's key check, which had read the form: a 500)."""
    await world.ada.get("/teams")
    answer = await world.ada.client.post(
        "/teams",
        data={"csrf_token": world.ada.csrf, "name": "Keyed", "description": ""},
        headers={"Origin": ORIGIN, "Idempotency-Key": "one-form"},
    )
    assert answer.status_code == 303, answer.text


async def test_signing_in_again_revokes_the_tokens_it_replaces(world: World) -> None:
    """A login form posted while signed in (another tab's, or as someone else) gets a new
    session; the pair the old one held is revoked at auth, as sign-out does, rather than
    left valid with nobody holding it."""
    visitor = browser_for(world.web, world.mail)
    async with visitor.client:
        await visitor.sign_in("ada")
        assert visitor.cookie
        before = await world.web.state.sessions.load(visitor.cookie)
        assert before is not None and before.signed_in
        await visitor.get("/teams")  # this session's form token
        again = await visitor.post("/login", {"username": "ada", "password": PASSWORD})
        assert again.status_code == 303
        assert (await visitor.get("/teams")).status_code == 200
    refreshed = await world.api.post(
        "/api/v1/auth/jwt/refresh", json={"refresh": before.refresh_token}
    )
    assert refreshed.status_code == 401
