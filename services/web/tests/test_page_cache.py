"""Pages kept per person (replica/): served again while nothing changed, asked again once
an event or the person's own change says their data changed, never another person's,
never to a member the team no longer lets see them, and never to a session whose tokens
auth revoked. The web app of the embedded
runtime (the in-memory bus hands web every event), with the counters' moves held back
where a test must show what a page is before the event arrives."""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from taskflow_chassis.messaging import inbox_table
from taskflow_chassis.revocation import RevocationList
from taskflow_chassis.testing import require_redis
from taskflow_chassis.types import utcnow
from taskflow_contracts.permissions import DEVELOPER, VIEWER
from taskflow_embedded.main import Dispatcher
from taskflow_web.app import page_cache
from taskflow_web.config import WebSettings
from taskflow_web.replica import rules
from taskflow_web.replica.adapters import MemoryGenerations, RedisGenerations
from taskflow_web.replica.service import PageCache
from taskflow_web.sessions.models import WebSession
from taskflow_web.sessions.rules import hash_session_id
from taskflow_web.sessions.service import Session

from .conftest import (
    ORIGIN,
    PASSWORD,
    Browser,
    browser_for,
    call_as,
    emailed_token,
    form_version,
    lead_and_member,
    participant,
    task_in_new_team,
)

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# --- the cache itself ---------------------------------------------------------------------


async def test_an_answer_is_kept_while_its_generations_hold() -> None:
    clock = Clock()
    cache = PageCache(MemoryGenerations(), seconds=30, entries=3, clock=clock)
    scope = rules.project_scope("ada", "team", "project")
    calls: list[str] = []

    async def ask() -> str:
        calls.append("asked")
        return f"answer {len(calls)}"

    first = await cache.answer(await cache.snapshot(scope), ("ada", "board"), ask)
    again = await cache.answer(await cache.snapshot(scope), ("ada", "board"), ask)
    assert first == again == "answer 1"
    # Another person's key is never the first one's answer.
    bobs = await cache.answer(await cache.snapshot(scope), ("bob", "board"), ask)
    assert bobs == "answer 2"

    await cache.bump([rules.project("project")])  # an event about the project
    assert await cache.answer(await cache.snapshot(scope), ("ada", "board"), ask) == "answer 3"
    await cache.changed_by("ada")  # ada's own change
    assert await cache.answer(await cache.snapshot(scope), ("ada", "board"), ask) == "answer 4"

    clock.now += 30  # the backstop: asked again even without an event
    assert await cache.answer(await cache.snapshot(scope), ("ada", "board"), ask) == "answer 5"
    fresh = await cache.snapshot(scope, fresh=True)  # a hard reload: asked, and kept
    assert await cache.answer(fresh, ("ada", "board"), ask) == "answer 6"
    assert await cache.answer(await cache.snapshot(scope), ("ada", "board"), ask) == "answer 6"


async def test_a_cache_turned_off_or_unsure_keeps_nothing() -> None:
    off = PageCache(MemoryGenerations(), enabled=False)
    snapshot = await off.snapshot(["names"])
    off.put(snapshot, ("ada",), "kept?")
    assert not snapshot.usable and off.get(snapshot, ("ada",)) is None

    class Away(MemoryGenerations):
        async def read(self, names: Sequence[str]) -> tuple[int, ...] | None:
            return None

        async def bump(self, names: Sequence[str]) -> None:
            raise ConnectionError("Redis is away")

    away = PageCache(Away())
    snapshot = await away.snapshot(["names"])
    away.put(snapshot, ("ada",), "kept?")
    assert away.get(snapshot, ("ada",)) is None
    await away.changed_by("ada")  # logged: the person's change is made all the same
    with pytest.raises(ConnectionError):
        await away.bump(["names"])  # an event's: the consumer tries it again


async def test_the_least_recently_used_go_first() -> None:
    cache = PageCache(MemoryGenerations(), entries=2)
    snapshot = await cache.snapshot(["names"])
    for key in ("a", "b"):
        cache.put(snapshot, (key,), key)
    assert cache.get(snapshot, ("a",)) == "a"  # used: b is now the oldest
    cache.put(snapshot, ("c",), "c")
    assert cache.get(snapshot, ("b",)) is None
    assert cache.get(snapshot, ("a",)) == "a" and cache.get(snapshot, ("c",)) == "c"


async def test_redis_generations_are_every_process_s() -> None:
    url = require_redis()
    prefix = f"test:web:{uuid.uuid4().hex}:"
    one, other = RedisGenerations(url, prefix), RedisGenerations(url, prefix)
    try:
        names = [rules.project("p"), rules.NAMES]
        assert await one.read(names) == (0, 0)
        await other.bump([rules.project("p")])
        assert await one.read(names) == (1, 0)
    finally:
        await one.close()
        await other.close()
    away = RedisGenerations("redis://127.0.0.1:1/0", prefix)
    assert await away.read(names) is None  # unknown: pages ask the API
    await away.close()


BROKER, REDIS = "amqp://guest:guest@127.0.0.1:5672/", "redis://127.0.0.1:6379/2"


@pytest.mark.parametrize(
    ("bus", "redis_url", "in_process", "on", "generations"),
    [
        ("memory://", None, True, True, MemoryGenerations),  # make dev: one process, one bus
        ("memory://", REDIS, False, False, None),  # a lone web hears none
        (BROKER, REDIS, False, True, RedisGenerations),
        (BROKER, None, False, False, None),  # no shared counters
    ],
)
async def test_pages_are_kept_only_where_web_hears_every_event(
    bus: str, redis_url: str | None, in_process: bool, on: bool, generations: type | None
) -> None:
    settings = WebSettings(event_bus_url=bus, page_cache_redis_url=redis_url)
    cache = page_cache(settings, in_process=in_process)
    assert cache.enabled is on
    if generations is not None:
        assert isinstance(cache.generations, generations)
    await cache.close()
    off = page_cache(WebSettings(page_cache=False), in_process=True)
    assert not off.enabled


# --- pages ----------------------------------------------------------------------------------


@dataclass
class Held:
    """The counters' moves of web's event handlers, held back while ``holding``."""

    cache: PageCache
    holding: bool = False
    held: list[str] = field(default_factory=list)
    moves: list[list[str]] = field(default_factory=list)  # each round trip's names

    async def bump(self, names: Sequence[str]) -> None:
        self.moves.append(list(names))
        if self.holding:
            self.held.extend(names)
        else:
            await self.cache.generations.bump(names)

    async def arrived(self, name: str) -> None:
        """An event has moved (held back) ``name``."""
        for _ in range(600):
            if name in self.held:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no event moved {name}: {self.held}")

    async def release(self) -> None:
        self.holding = False
        await self.cache.generations.bump(self.held)
        self.held.clear()


@dataclass
class Team:
    api: httpx.AsyncClient
    web: FastAPI
    ada: Browser  # leads the team
    bob: Browser  # a viewer
    tokens: dict[str, str]
    team_id: str
    bob_id: str
    project_id: str
    events: Held

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        return await call_as(self.api, self.tokens["ada"], method, path, **kwargs)

    async def give_bob(self, role: str) -> None:
        roles = (await self.call("GET", f"/api/v1/teams/{self.team_id}/roles"))["items"]
        role_id = next(r["id"] for r in roles if r["name"] == role)
        path = f"/api/v1/teams/{self.team_id}/members/{self.bob_id}"
        await self.call("PATCH", path, json={"role_id": role_id})


@pytest.fixture
async def team(embedded: Dispatcher, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    web = embedded.apps["web"]
    events = Held(web.state.page_cache)
    monkeypatch.setattr(web.state.page_cache, "bump", events.bump)
    mail = tmp_path / "mail"
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=embedded), base_url=ORIGIN)
    ada, bob = browser_for(web, mail), browser_for(web, mail)
    async with api, ada.client, bob.client:
        phones = ("+14155550121", "+14155550122")
        tokens, team_id = await lead_and_member(api, ada, bob, VIEWER, phones)
        bob_key = {"Authorization": f"Bearer {tokens['bob']}"}
        bob_id = (await api.get("/api/v1/auth/users/me", headers=bob_key)).json()["id"]
        made = Team(api, web, ada, bob, tokens, team_id, bob_id, "", events)
        project = await made.call(
            "POST", "/api/v1/projects", json={"team_id": team_id, "name": "Kept"}
        )
        made.project_id = project["id"]
        await made.call(
            "POST", f"/api/v1/projects/{made.project_id}/tasks", json={"title": "First"}
        )
        yield made


async def _board(browser: Browser, team: Team) -> httpx.Response:
    return await browser.get(f"/projects/{team.project_id}")


async def _settled(team: Team) -> None:
    """Every event so far has reached web (the in-memory bus delivers in a moment)."""
    await asyncio.sleep(0.5)


async def test_events_cost_web_s_database_nothing(team: Team) -> None:
    """Web's handlers only move counters (harmless twice), so it consumes without an inbox:
    the events of the team's making reached it, and its database holds no row of them."""
    team.events.holding = True
    await team.call("POST", f"/api/v1/projects/{team.project_id}/tasks", json={"title": "Two"})
    await team.events.arrived(rules.project(team.project_id))  # handled by web
    await team.events.release()
    async with team.web.state.database.session() as session:
        rows = await session.execute(select(func.count()).select_from(inbox_table))
    assert rows.scalar_one() == 0


async def test_a_write_s_events_move_its_project_s_counter_once(team: Team) -> None:
    """A task created with an assignee is two events (created, assigned), published
    together and handled as one batch: its project's counter moves once, in one round
    trip to the counters."""
    await _settled(team)
    team.events.moves.clear()
    team.events.holding = True
    await team.call(
        "POST",
        f"/api/v1/projects/{team.project_id}/tasks",
        json={"title": "Assigned", "assignee_ids": [team.bob_id]},
    )
    await team.events.arrived(rules.project(team.project_id))
    await _settled(team)
    await team.events.release()
    assert team.events.moves == [[rules.project(team.project_id)]]


async def test_a_kept_board_until_an_event_and_ones_own_change_at_once(team: Team) -> None:
    calls: list[str] = []

    async def count(request: httpx.Request) -> None:
        calls.append(request.url.path)

    team.web.state.api_client.event_hooks["request"].append(count)
    await _board(team.ada, team)  # learns the project's team
    await _settled(team)
    first = await _board(team.ada, team)
    assert "First" in first.text
    calls.clear()
    again = await _board(team.ada, team)
    assert again.text.count("task-card") == first.text.count("task-card")
    assert not [path for path in calls if "/notifications" not in path], calls  # kept

    team.events.holding = True
    await team.call("POST", f"/api/v1/projects/{team.project_id}/tasks", json={"title": "Second"})
    await team.events.arrived(rules.project(team.project_id))
    assert "Second" not in (await _board(team.ada, team)).text  # no event yet: kept
    await team.events.release()
    assert "Second" in (await _board(team.ada, team)).text  # the event's move

    # Ada's own change, made through web, shows on her next page without the event.
    team.events.holding = True
    board = await _board(team.ada, team)
    tasks = await team.call("GET", "/api/v1/tasks", params={"project_id": team.project_id})
    first_id = next(t["id"] for t in tasks["items"] if t["title"] == "First")
    version = form_version(board.text, f"/tasks/{first_id}/move")
    moved = await team.ada.post(
        f"/tasks/{first_id}/move", {"status": "in_review", "version": version}
    )
    assert moved.status_code == 303, moved.text
    board = await _board(team.ada, team)
    column = re.search(r'id="column-in_review".*?</section>', board.text, re.S)
    assert column and "First" in column.group(0), board.text
    await team.events.release()


async def test_a_removed_member_stops_seeing_the_kept_board(team: Team) -> None:
    await _board(team.bob, team)
    await _settled(team)
    assert (await _board(team.bob, team)).status_code == 200  # kept for bob now
    team.events.holding = True
    await team.call("DELETE", f"/api/v1/teams/{team.team_id}/members/{team.bob_id}")
    await team.events.arrived(rules.person(team.bob_id))
    assert (await _board(team.bob, team)).status_code == 200  # no event yet: kept
    await team.events.release()  # the member.removed event reaches web
    assert (await _board(team.bob, team)).status_code == 404
    assert (await team.bob.get(f"/projects/{team.project_id}/tasks")).status_code == 404


async def test_a_role_change_shows_on_the_next_page(team: Team) -> None:
    await _board(team.bob, team)
    await _settled(team)
    viewer = await _board(team.bob, team)
    assert 'class="move"' not in viewer.text and 'class="quick-add"' not in viewer.text
    for role, shown in ((DEVELOPER, True), (VIEWER, False)):
        team.events.holding = True
        await team.give_bob(role)
        await team.events.arrived(rules.person(team.bob_id))  # member.role_changed
        await team.events.release()
        board = await _board(team.bob, team)
        assert ('class="move"' in board.text) == shown, role
        assert ('class="quick-add"' in board.text) == shown, role


async def test_nobody_gets_another_person_s_kept_page(team: Team) -> None:
    """Ada leads (every form on her board), bob views (none): each, again and again, gets
    their own board, with their own session's CSRF token in a new rendering each time."""
    for _ in range(2):
        await _board(team.ada, team)
        await _board(team.bob, team)
    await _settled(team)
    seen: dict[str, set[str]] = {"ada": set(), "bob": set()}
    for _ in range(3):
        for who, browser in (("ada", team.ada), ("bob", team.bob)):
            page = await _board(browser, team)
            assert ('class="move"' in page.text) == (who == "ada"), who
            tokens = {html.unescape(t) for t in CSRF.findall(page.text)}
            assert len(tokens) == 1, tokens  # the layout's and the board's forms: one
            [token] = tokens
            assert browser.cookie
            session = await team.web.state.sessions.load(browser.cookie)
            assert session.id_hash == hash_session_id(browser.cookie)
            assert token.split(".")[0] == session.csrf_token, who
            seen[who].add(token)
    assert len(seen["ada"]) == 3 and len(seen["bob"]) == 3  # a new rendering each page


async def test_a_page_that_was_not_kept_as_is_is_not_served(team: Team) -> None:
    """A form's problem is shown on the board, never kept into the next one."""
    await _board(team.ada, team)
    failed = await team.ada.post(
        f"/projects/{team.project_id}/tasks", {"title": "", "status": "todo"}
    )
    assert failed.status_code == 422 and 'aria-invalid="true"' in failed.text
    assert 'aria-invalid="true"' not in (await _board(team.ada, team)).text


# --- a session auth ended -----------------------------------------------------------------

NEW_PASSWORD = "a-brand-new-password-42"
SECRET_TASK = "Acquisition of Initech"


@dataclass
class TwoSessions:
    """Ada signed in twice, her board open in both: her own browser, and a session left
    elsewhere (a shared computer, a copied cookie). The board is kept per person and its
    only API call then, the unread badge, per person for 5 s."""

    api: httpx.AsyncClient
    web: FastAPI
    ada: Browser
    elsewhere: Browser
    token: str  # ada's, for calls straight to the API
    board: str

    async def carries_on(self, password: str = PASSWORD) -> None:
        """Ada signs in again on her own browser and opens the board: kept for her anew."""
        assert (await self.ada.sign_in("ada", password)).status_code == 303
        assert (await self.ada.get(self.board)).status_code == 200

    async def change_password_and_carry_on(self) -> None:
        """Ada changes her password through the API (another client, the CLI), then
        carries on in her own browser."""
        await call_as(
            self.api,
            self.token,
            "POST",
            "/api/v1/auth/users/set_password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        )
        await self.carries_on(NEW_PASSWORD)

    async def elsewhere_session(self) -> Session:
        assert self.elsewhere.cookie
        session: Session | None = await self.web.state.sessions.load(self.elsewhere.cookie)
        assert session is not None and session.signed_in
        return session

    async def assert_elsewhere_must_sign_in(self) -> None:
        seen = await self.elsewhere.get(self.board)
        assert seen.status_code == 303 and seen.headers["location"].startswith("/login"), (
            seen.status_code,
            SECRET_TASK in seen.text,
        )


@pytest.fixture
async def two_sessions(embedded: Dispatcher, tmp_path: Path) -> AsyncIterator[TwoSessions]:
    web = embedded.apps["web"]
    # Time stands still for the kept answers and the badge: the other session's page comes
    # within the seconds those are kept (5 s for the badge), as on a busy machine it might
    # not in real time; what is shown does not depend on it, only the test's timing does.
    web.state.unread_badge.clock = lambda: 1000.0
    web.state.page_cache.clock = lambda: 1000.0
    mail = tmp_path / "mail"
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=embedded), base_url=ORIGIN)
    ada, elsewhere = browser_for(web, mail), browser_for(web, mail)
    async with api, ada.client, elsewhere.client:
        token = await participant(api, ada, "ada", "+14155550171")
        task = await task_in_new_team(api, token, "Secret crew", SECRET_TASK)
        made = TwoSessions(api, web, ada, elsewhere, token, f"/projects/{task['project_id']}")
        assert (await elsewhere.sign_in("ada")).status_code == 303
        assert (await elsewhere.get(made.board)).status_code == 200
        assert (await ada.get(made.board)).status_code == 200
        yield made


async def test_a_password_reset_ends_other_sessions_even_on_kept_pages(
    two_sessions: TwoSessions,
) -> None:
    """README: "a password change or reset revokes the user's tokens": a session web keeps
    elsewhere is signed out by its next page, even one served from answers kept per
    person, which ada's new session fills again moments before."""
    resetter = browser_for(two_sessions.web, two_sessions.ada.mail)
    async with resetter.client:
        await resetter.get("/forgot-password")
        await resetter.post("/forgot-password", {"email": "ada@example.com"})
        link = await emailed_token(two_sessions.ada.mail, "ada@example.com", "Reset")
        await resetter.get("/reset-password", params={"token": link})
        done = await resetter.post("/reset-password", {"token": link, "new_password": NEW_PASSWORD})
        assert done.status_code == 303, done.text
    await two_sessions.carries_on(NEW_PASSWORD)
    await two_sessions.assert_elsewhere_must_sign_in()


async def test_a_password_change_ends_other_sessions_even_on_kept_pages(
    two_sessions: TwoSessions,
) -> None:
    """README: "a password change or reset revokes the user's tokens": changed through the
    API, the session web keeps elsewhere ends on its next page."""
    await two_sessions.change_password_and_carry_on()
    await two_sessions.assert_elsewhere_must_sign_in()


async def test_a_session_logged_out_at_auth_ends_even_on_kept_pages(
    two_sessions: TwoSessions,
) -> None:
    """Auth's log-out of one session (its access token and refresh family revoked) ends it
    in web on its next page, while the person's other session keeps the board filled."""
    elsewhere = await two_sessions.elsewhere_session()
    logged_out = await two_sessions.api.post(
        "/api/v1/auth/jwt/revoke",
        json={"refresh": elsewhere.refresh_token},
        headers={"Authorization": f"Bearer {elsewhere.access_token}"},
    )
    assert logged_out.status_code == 204, logged_out.text
    assert (await two_sessions.ada.get(two_sessions.board)).status_code == 200
    await two_sessions.assert_elsewhere_must_sign_in()


async def test_a_revoked_session_past_its_access_token_cannot_refresh_into_kept_pages(
    two_sessions: TwoSessions,
) -> None:
    """Web's revocation list forgets a revocation once every token it covers has run out.
    A session whose access token has (or is about to) is refreshed before a page, kept
    answers or not, and auth refuses a revoked session's refresh token: signed out."""
    await two_sessions.change_password_and_carry_on()
    two_sessions.web.state.sessions.revocations = RevocationList()  # forgotten
    elsewhere = await two_sessions.elsewhere_session()
    async with two_sessions.web.state.database.session() as db:
        await db.execute(
            update(WebSession)
            .where(WebSession.id_hash == elsewhere.id_hash)  # type: ignore[arg-type]
            .values(access_expires_at=utcnow() + timedelta(seconds=5))
        )
        await db.commit()
    await two_sessions.assert_elsewhere_must_sign_in()
    assert two_sessions.elsewhere.cookie
    after = await two_sessions.web.state.sessions.load(two_sessions.elsewhere.cookie)
    assert after is not None and not after.signed_in
