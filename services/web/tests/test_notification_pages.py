"""The notification pages and the live stream as people use them: the feed with its
unread marks, links, "load more", mark read (one, all), the header's unread badge, email
preferences, and /events relaying notify's stream (a notification created while listening,
Last-Event-ID resuming, no session refused, a token refresh survived). Against the real
four services of the embedded runtime, one runtime for the module."""

from __future__ import annotations

import asyncio
import html
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from taskflow_chassis.types import utcnow
from taskflow_embedded.main import Dispatcher
from taskflow_embedded.streaming import StreamingASGITransport
from taskflow_web.notifications import service as notifications

from .conftest import (
    ORIGIN,
    Browser,
    browser_for,
    embedded_runtime,
    participant,
    team_with_member,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

WAIT = 15.0


@dataclass
class World:
    dispatcher: Dispatcher
    web: FastAPI
    api: httpx.AsyncClient
    ada: Browser  # leads the team, assigns tasks
    bob: Browser  # a member: gets the notifications
    eve: Browser  # in no team, no notifications
    tokens: dict[str, str]
    team_id: str
    project_id: str
    bob_id: str

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def call(self, method: str, path: str, who: str = "ada", **kwargs: Any) -> Any:
        response = await self.api.request(method, path, headers=self.headers(who), **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def assign(self, title: str) -> str:
        """A new task assigned to bob: bob's notification (task_assigned) links to it."""
        task = await self.call(
            "POST", f"/api/v1/projects/{self.project_id}/tasks", json={"title": title}
        )
        await self.call(
            "POST", f"/api/v1/tasks/{task['id']}/assignees", json={"user_id": self.bob_id}
        )
        return str(task["id"])

    async def feed(self, who: str = "bob") -> list[dict[str, Any]]:
        page = await self.call("GET", "/api/v1/notifications", who, params={"limit": 200})
        items: list[dict[str, Any]] = page["items"]
        return items


async def _until(make: Any, ok: Any) -> Any:
    for _ in range(300):
        answer = await make()
        if ok(answer):
            return answer
        await asyncio.sleep(0.05)
    raise AssertionError(getattr(answer, "text", answer))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    data = tmp_path_factory.mktemp("notification-pages")
    with pytest.MonkeyPatch.context() as env:
        # A quick stream: new events looked for often, a heartbeat every half second.
        env.setenv("NOTIFY_LIVE_POLL_SECONDS", "0.1")
        env.setenv("NOTIFY_LIVE_HEARTBEAT_SECONDS", "0.5")
        async with embedded_runtime(data) as dispatcher:
            mail = Path(data) / "mail"
            web = dispatcher.apps["web"]
            web.state.relay_check_seconds = 0.2
            api = httpx.AsyncClient(transport=httpx.ASGITransport(app=dispatcher), base_url=ORIGIN)
            ada, bob, eve = (browser_for(web, mail) for _ in range(3))
            async with api, ada.client, bob.client, eve.client:
                tokens = {
                    "ada": await participant(api, ada, "ada", "+14155550121"),
                    "bob": await participant(api, bob, "bob", "+14155550122"),
                    "eve": await participant(api, eve, "eve", "+14155550123"),
                }
                lead = {"Authorization": f"Bearer {tokens['ada']}"}
                team_id = await team_with_member(
                    api, mail, tokens["ada"], tokens["bob"], "bob@example.com", "Developer"
                )
                me = await api.get(
                    "/api/v1/auth/users/me", headers={"Authorization": f"Bearer {tokens['bob']}"}
                )
                project = await api.post(
                    "/api/v1/projects", headers=lead, json={"team_id": team_id, "name": "Launch"}
                )
                assert project.status_code == 201, project.text
                world = World(
                    dispatcher,
                    web,
                    api,
                    ada,
                    bob,
                    eve,
                    tokens,
                    team_id,
                    project.json()["id"],
                    me.json()["id"],
                )
                yield world


class Events:
    """A browser's EventSource on /events: the session cookie, and Last-Event-ID when
    resuming; ``next()`` answers the next event (comments skipped)."""

    def __init__(self, world: World, browser: Browser, last_event_id: str | None = None) -> None:
        self.client = httpx.AsyncClient(
            transport=StreamingASGITransport(app=world.web),
            base_url=ORIGIN,
            cookies=browser.client.cookies,
            timeout=httpx.Timeout(WAIT),
        )
        self.headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            self.headers["Last-Event-ID"] = last_event_id
        self.buffer = ""

    async def __aenter__(self) -> Events:
        request = self.client.build_request("GET", "/events", headers=self.headers)
        self.response = await self.client.send(request, stream=True)
        self.chunks = self.response.aiter_text()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.response.aclose()
        await self.client.aclose()

    async def next(self, kind: str | None = None) -> dict[str, Any]:
        """The next event (of ``kind``, skipping others)."""
        while True:
            while "\n\n" not in self.buffer:
                self.buffer += await asyncio.wait_for(anext(self.chunks), WAIT)
            block, self.buffer = self.buffer.split("\n\n", 1)
            fields = dict(
                line.split(": ", 1) for line in block.split("\n") if ": " in line and line[0] != ":"
            )
            if "event" in fields and (kind is None or fields["event"] == kind):
                return {
                    "id": fields.get("id"),
                    "event": fields["event"],
                    "data": json.loads(fields["data"]),
                }


def _badge(page: str) -> str:
    found = re.search(r'<span id="unread-badge"[^>]*>([^<]*)</span>', page)
    assert found, page
    return found.group(1)


async def test_feed_links_unread_marks_and_the_badge(world: World) -> None:
    task_id = await world.assign("Write the launch post")
    await _until(world.feed, lambda items: any(i["task_id"] == task_id for i in items))
    world.web.state.unread_badge.forget(None)

    page = await world.bob.get("/notifications")
    assert page.status_code == 200, page.text
    assert "You were assigned &#34;Write the launch post&#34;" in page.text
    assert f'href="/tasks/{task_id}"' in page.text  # the link lands on web's task page
    assert "unread-mark" in page.text and "Mark read" in page.text
    assert "ada" in page.text  # who caused it
    assert _badge(page.text) == str(len([i for i in await world.feed() if not i["read_at"]]))
    # The badge is on every signed-in page, not on a signed-out one.
    assert _badge((await world.bob.get("/profile")).text) == _badge(page.text)
    assert (
        'id="unread-badge"' not in (await world.eve.get("/notifications")).text.split("<main", 1)[1]
    )

    # Mark one read, as a plain form (no script): back to the feed, the badge one less.
    [item] = [i for i in await world.feed() if i["task_id"] == task_id]
    before = int(_badge(page.text))
    read = await world.bob.post(
        f"/notifications/{item['id']}/read", {"back": "/notifications?unread=true"}
    )
    assert read.status_code == 303 and read.headers["location"] == "/notifications?unread=true"
    unread_page = await world.bob.get("/notifications?unread=true")
    assert f'id="n-{item["id"]}"' not in unread_page.text
    assert _badge(unread_page.text) == (str(before - 1) if before > 1 else "")
    # A "back" elsewhere never leaves the feed.
    other = await world.bob.post(
        f"/notifications/{item['id']}/read", {"back": "https://evil.example/"}
    )
    assert other.headers["location"] == "/notifications"


async def test_mark_read_with_htmx_swaps_the_item_and_the_badge(world: World) -> None:
    task_id = await world.assign("Plan the party")
    items = await _until(world.feed, lambda found: any(i["task_id"] == task_id for i in found))
    [item] = [i for i in items if i["task_id"] == task_id]
    await world.bob.get("/notifications")
    swapped = await world.bob.client.post(
        f"/notifications/{item['id']}/read",
        data={"csrf_token": world.bob.csrf, "back": "/notifications"},
        headers={"HX-Request": "true", "HX-Target": f"n-{item['id']}", "Origin": ORIGIN},
    )
    assert swapped.status_code == 200, swapped.text
    assert swapped.text.lstrip().startswith(
        f'<li class="list-item notification" id="n-{item["id"]}"'
    )
    assert "Mark read" not in swapped.text  # read now
    assert 'hx-swap-oob="true"' in swapped.text and 'id="unread-badge"' in swapped.text


async def test_mark_all_read(world: World) -> None:
    await world.assign("Book the venue")
    await _until(world.feed, lambda items: any(not i["read_at"] for i in items))
    await world.bob.get("/notifications")
    done = await world.bob.post("/notifications/read-all", {"back": "/notifications"})
    assert done.status_code == 303 and done.headers["location"] == "/notifications"
    page = await world.bob.get("/notifications")
    assert "marked read." in page.text
    assert _badge(page.text) == "" and "unread-mark" not in page.text.split("<template", 1)[0]
    again = await world.bob.post("/notifications/read-all", {"back": "/notifications"})
    assert "Nothing was unread." in (await world.bob.get(again.headers["location"])).text


async def test_load_more_follows_the_cursor(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notifications, "FEED_PAGE", 2)
    # Five at least, whichever of the module's tests ran before this one.
    before = len(await world.feed())
    titles = [f"One more ({number})" for number in range(max(2, 5 - before))]
    for title in titles:
        await world.assign(title)
    items = await _until(world.feed, lambda found: len(found) >= before + len(titles))
    first = await world.bob.get("/notifications")
    assert first.text.count('class="list-item notification') == 2 + 1  # and the template's
    more = re.search(r'<a href="(/notifications\?cursor=[^"]+)" hx-get="([^"]+)"', first.text)
    assert more, first.text
    # Without scripts: a plain link to the next page.
    second = await world.bob.get(more.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert items[2]["title"].replace('"', "&#34;") in second.text
    assert items[0]["title"].replace('"', "&#34;") not in second.text
    # With htmx: the next items, and a new "Load more" in place of the old one.
    fragment = await world.bob.get(
        more.group(2).replace("&amp;", "&"), headers={"HX-Request": "true"}
    )
    assert fragment.status_code == 200
    assert (
        "<html" not in fragment.text
        and 'id="load-more" class="load-more" hx-swap-oob="true"' in fragment.text
    )
    assert fragment.text.count('class="list-item notification') == 2


async def test_outsider_and_signed_out(world: World) -> None:
    [item, *_] = await world.feed()
    # Someone else's notification: the API's 404, as a page.
    await world.eve.get("/notifications")
    refused = await world.eve.post(f"/notifications/{item['id']}/read", {"back": ""})
    assert refused.status_code == 404 and refused.headers["content-type"].startswith("text/html")
    assert f'id="n-{item["id"]}"' not in (await world.eve.get("/notifications")).text
    # Signed out: to sign in, then back.
    stranger = browser_for(world.web, Path("/nonexistent"))
    async with stranger.client:
        page = await stranger.get("/notifications?unread=true")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2Fnotifications%3Funread%3Dtrue"
        assert (await stranger.get("/settings/notifications")).status_code == 303
        assert (await stranger.get("/events")).status_code == 401


async def test_preferences_saved_and_a_problem_beside_its_field(world: World) -> None:
    page = await world.bob.get("/settings/notifications")
    assert page.status_code == 200, page.text
    assert '<label for="f-email_on_comment">' in page.text
    assert re.search(r'id="f-email_on_assignment"[^>]*checked', page.text)
    assert 'value="24"' in page.text  # the default lead time

    wrong = await world.bob.post(
        "/settings/notifications",
        {"email_on_assignment": "true", "reminder_lead_hours": "1000"},
    )
    assert wrong.status_code == 422, wrong.text
    field = re.search(r'<input id="f-reminder_lead_hours"[^>]*>', wrong.text)
    assert field and 'aria-invalid="true"' in field.group(0), wrong.text
    assert 'value="1000"' in field.group(0) and 'id="f-reminder_lead_hours-error"' in wrong.text
    assert 'role="alert"' in wrong.text
    assert not re.search(r'id="f-email_on_comment"[^>]*checked', wrong.text)  # kept as sent

    version = re.search(r'name="version" value="([^"]*)"', page.text)
    assert version and version.group(1), page.text
    shown_with = html.unescape(version.group(1))
    saved = await world.bob.post(
        "/settings/notifications",
        {
            "email_on_assignment": "true",
            "email_reminders": "true",
            "reminder_lead_hours": "48",
            "version": shown_with,
        },
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/settings/notifications"
    shown = await world.bob.get("/settings/notifications")
    assert "Your notification settings are saved." in shown.text and 'value="48"' in shown.text
    assert not re.search(r'id="f-email_on_comment"[^>]*checked', shown.text)
    # Saved again from the page shown before that save: someone else's change, said plainly.
    stale = await world.bob.post(
        "/settings/notifications",
        {"email_on_comment": "true", "reminder_lead_hours": "12", "version": shown_with},
    )
    assert stale.status_code == 412, stale.text
    assert "changed elsewhere" in stale.text and 'href="/settings/notifications"' in stale.text
    stored = await world.call("GET", "/api/v1/notifications/preferences", "bob")
    assert stored == {
        "email_on_assignment": True,
        "email_on_comment": False,
        "email_reminders": True,
        "reminder_lead_hours": 48,
    }


async def test_events_relay_a_notification_and_resume(world: World) -> None:
    async with Events(world, world.bob) as stream:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        greeting = await stream.next()
        assert greeting["event"] == "unread" and "unread_count" in greeting["data"]
        task_id = await world.assign("Live one")
        received = [await stream.next()]
        while not any(e["data"].get("change") == "assigned" for e in received) or not any(
            e["event"] == "notification" for e in received
        ):
            received.append(await stream.next())
        [arrived] = [e for e in received if e["event"] == "notification"]
        assert arrived["data"]["task_id"] == task_id
        assert arrived["data"]["unread_count"] >= 1
        # bob is in the task's team: its changes too (created, then assigned).
        assert [e["data"]["change"] for e in received if e["event"] == "task.changed"] == [
            "created",
            "assigned",
        ]
        ids = [int(e["id"]) for e in received]
        assert ids == sorted(ids) and ids[0] > int(greeting["id"])
        last = received[-1]["id"]
    # While away: one more. Back with Last-Event-ID: what was missed, nothing twice.
    missed = await world.assign("While away")
    async with Events(world, world.bob, last_event_id=last) as resumed:
        first = await resumed.next()
        assert first["event"] in {"notification", "task.changed"}
        assert int(first["id"]) > int(last)
        seen = [first]
        while not any(e["event"] == "notification" for e in seen):
            seen.append(await resumed.next())
        [note] = [e for e in seen if e["event"] == "notification"]
        assert note["data"]["task_id"] == missed
        assert all(e["data"].get("task_id") != task_id for e in seen)


async def test_events_survive_a_token_refresh(world: World) -> None:
    store = world.web.state.sessions
    assert world.bob.cookie
    before = await store.load(world.bob.cookie)
    offset = timedelta()
    world.web.state.clock = lambda: utcnow() + offset
    try:
        async with Events(world, world.bob) as stream:
            greeting = await stream.next()
            # The access token as if about to run out: the relay ends the upstream, refreshes
            # and opens it again after the last id it passed on.
            offset = timedelta(minutes=15)
            for _ in range(100):
                after = await store.load(world.bob.cookie)
                if after is not None and after.refresh_token != before.refresh_token:
                    break
                await asyncio.sleep(0.05)
            assert after is not None and after.signed_in
            assert after.refresh_token != before.refresh_token
            task_id = await world.assign("After the refresh")
            arrived = await stream.next("notification")
            assert arrived["data"]["task_id"] == task_id
            assert int(arrived["id"]) > int(greeting["id"])
    finally:
        del world.web.state.clock
