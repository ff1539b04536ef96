"""Three things a person noticed: two tabs saving the profile (the second is told, with
what the first saved), an error page that says when to try again (Retry-After), and a
double-clicked Save whose two sendings reach two processes of web (one change)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from taskflow_chassis.testing import app_running
from taskflow_embedded.main import BrowserAddress, Dispatcher
from taskflow_embedded.streaming import StreamingASGITransport
from taskflow_web.api.adapters import ApiUnavailable
from taskflow_web.app import create_app

from .conftest import (
    ORIGIN,
    Browser,
    browser_for,
    embedded_runtime,
    form_version,
    participant,
    task_in_new_team,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class World:
    dispatcher: Dispatcher
    web: FastAPI
    api: httpx.AsyncClient
    ada: Browser
    token: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    data = tmp_path_factory.mktemp("gaps")
    async with embedded_runtime(data) as dispatcher:
        web = dispatcher.apps["web"]
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=dispatcher), base_url=ORIGIN)
        ada = browser_for(web, data / "mail")
        async with api, ada.client:
            token = await participant(api, ada, "ada", "+14155550111")
            yield World(dispatcher, web, api, ada, token)


async def test_a_profile_saved_in_another_tab_is_not_overwritten(world: World) -> None:
    """Two tabs show the profile; the first saves; the second's Save is refused (412),
    telling what the profile holds now and keeping what was typed, and a second Save on
    that page then replaces it on purpose."""
    first = await world.ada.get("/profile")
    second = await world.ada.get("/profile")
    version = form_version(second.text, "/profile")
    assert version == form_version(first.text, "/profile") and version.startswith('"')
    saved = await world.ada.post(
        "/profile",
        {
            "display_name": "From tab one",
            "phone_number": "+1 415 555 0111",
            "version": form_version(first.text, "/profile"),
        },
    )
    assert saved.status_code == 303, saved.text
    refused = await world.ada.post(
        "/profile",
        {"display_name": "From tab two", "phone_number": "+1 415 555 0112", "version": version},
    )
    assert refused.status_code == 412, refused.text
    assert "changed elsewhere" in refused.text
    assert "display name “From tab one”" in refused.text  # the current values
    assert 'value="From tab two"' in refused.text  # what was typed is kept
    me = await world.api.get(
        "/api/v1/participants/me", headers={"Authorization": f"Bearer {world.token}"}
    )
    assert me.json()["display_name"] == "From tab one"
    again = await world.ada.post(
        "/profile",
        {
            "display_name": "From tab two",
            "phone_number": "+1 415 555 0112",
            "version": form_version(refused.text, "/profile"),
        },
    )
    assert again.status_code == 303, again.text
    assert 'value="From tab two"' in (await world.ada.get("/profile")).text


async def test_429_and_503_pages_say_when_to_try_again(world: World) -> None:
    """The API's Retry-After reaches the browser on the error page; a 503 without an
    answer from the API still says when to try again."""
    transport: httpx.AsyncBaseTransport = world.web.state.api_client._transport
    answers = {
        "/api/v1/teams": httpx.Response(
            429,
            headers={"Retry-After": "7", "Content-Type": "application/problem+json"},
            json={"title": "Too Many Requests", "status": 429, "detail": "Slow down."},
        ),
        "/api/v1/notifications": httpx.Response(503, headers={"Retry-After": "11"}),
    }

    class Refusing(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if request.url.path in answers:
                return answers[request.url.path]
            if request.url.path.startswith("/api/v1/participants"):
                raise httpx.ConnectError("gone", request=request)
            return await transport.handle_async_request(request)

    world.web.state.api_client._transport = Refusing()
    try:
        limited = await world.ada.get("/teams")
        unavailable = await world.ada.get("/notifications")
        away = await world.ada.get("/profile")
    finally:
        world.web.state.api_client._transport = transport
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7", limited.text
    assert "Slow down." in limited.text
    assert unavailable.status_code == 503 and unavailable.headers["retry-after"] == "11"
    assert away.status_code == 503 and away.headers["retry-after"] == "5"
    assert ApiUnavailable("x", "3").retry_after == "3"


@pytest_asyncio.fixture(loop_scope="module")
async def second_web(world: World) -> AsyncIterator[FastAPI]:
    """Another process of web: its own app on the same database and token key, calling
    the same API (as two replicas behind the gateway)."""
    app = create_app(
        world.web.state.settings,
        api_transport=StreamingASGITransport(app=BrowserAddress(world.dispatcher)),
    )
    async with app_running(app):
        yield app


async def test_a_save_sent_twice_to_two_processes_makes_one_change(
    world: World, second_web: FastAPI
) -> None:
    """The same rendering of the task's form posted at once to two processes of web: one
    change reaches the API (one activity entry), both answers are the saved page, neither
    says someone else changed it."""
    key = {"Authorization": f"Bearer {world.token}"}
    task = await task_in_new_team(world.api, world.token, "Twice")
    path = f"/tasks/{task['id']}"
    page = await world.ada.get(path)
    data = {
        "csrf_token": world.ada.csrf,
        "title": "Final",
        "status": "todo",
        "priority": "medium",
        "version": form_version(page.text, path),
    }
    cookie = {"taskflow_session": world.ada.cookie or ""}
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=second_web), base_url=ORIGIN, cookies=cookie
    )
    async with other:
        first, second = await asyncio.gather(
            world.ada.client.post(path, data=data, headers={"Origin": ORIGIN}),
            other.post(path, data=data, headers={"Origin": ORIGIN}),
        )
    assert (first.status_code, second.status_code) == (303, 303), (first.text, second.text)
    activity = await world.api.get(f"/api/v1/tasks/{task['id']}/activity", headers=key)
    changes = [item for item in activity.json()["items"] if item["action"] != "created"]
    assert len(changes) == 1, activity.json()
    shown = await world.ada.get(path)
    assert "Final" in shown.text and "changed by someone else" not in shown.text


async def test_a_form_sending_left_by_a_dead_process_is_taken_over(world: World) -> None:
    """A claim whose process died before the API answered is waited for, then the change
    is sent (the API's If-Match still keeps it from being made twice)."""
    sendings = world.web.state.form_sendings
    assert await sendings._claim("k" * 64)
    sent: list[int] = []

    async def send() -> httpx.Response:
        sent.append(1)
        return httpx.Response(200, json={"ok": True})

    quick = type(sendings)(sendings.database, sendings.clock, wait_seconds=0.01, waits=3)
    answer = await quick.once("k" * 64, send)
    assert answer.status_code == 200 and sent == [1]
    kept = await quick.once("j" * 64, send)  # a new one: claimed, sent, its answer kept
    assert kept.json() == {"ok": True} and sent == [1, 1]
    replay = await quick.once("j" * 64, send)
    assert replay.json() == {"ok": True} and sent == [1, 1]
