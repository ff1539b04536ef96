"""CSRF: every unsafe request needs the session's synchronizer token (form field or
header) and, where the browser names one, this site's origin; refused with a 403 page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from taskflow_web.deps import check_csrf

from .conftest import Browser


async def test_a_form_without_the_token_is_refused(browser: Browser) -> None:
    await browser.sign_up("fay")
    await browser.get("/login")
    missing = await browser.client.post(
        "/login",
        data={"username": "fay", "password": "correct-horse-battery"},
        headers={"Origin": "https://127.0.0.1:8000"},
    )
    assert missing.status_code == 403
    assert missing.headers["content-type"].startswith("text/html")
    assert "This form could not be accepted" in missing.text
    assert "location" not in missing.headers  # not signed in

    browser.csrf = "not-the-token"
    wrong = await browser.post("/login", {"username": "fay", "password": "correct-horse-battery"})
    assert wrong.status_code == 403


async def test_a_form_from_another_site_is_refused(browser: Browser) -> None:
    await browser.sign_up("gus")
    await browser.get("/login")
    data = {"username": "gus", "password": "correct-horse-battery"}
    other = await browser.post("/login", data, origin="https://evil.example")
    assert other.status_code == 403
    opaque = await browser.post("/login", data, origin="null")
    assert opaque.status_code == 403
    cross = await browser.client.post(
        "/login",
        data={"csrf_token": browser.csrf, **data},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403


async def test_the_right_token_from_this_site_passes(browser: Browser) -> None:
    await browser.sign_up("hal")
    await browser.get("/login")
    data = {"username": "hal", "password": "correct-horse-battery"}
    fetched = await browser.client.post(
        "/login",
        data={"csrf_token": browser.csrf, **data},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert fetched.status_code == 303
    await browser.get("/profile")
    # htmx sends the token as a header (hx-headers on <body>), not as a field.
    by_header = await browser.client.post(
        "/logout",
        headers={"X-CSRF-Token": browser.csrf, "Origin": "https://127.0.0.1:8000"},
    )
    assert by_header.status_code == 303


async def test_the_token_belongs_to_its_session(browser: Browser) -> None:
    await browser.get("/login")
    first = browser.csrf
    browser.client.cookies.clear()
    await browser.get("/login")
    assert browser.csrf != first
    browser.csrf = first
    assert (await browser.post("/login", {"username": "x", "password": "y"})).status_code == 403


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # FastAPI's included routers
        if included is not None:
            yield from _routes(included.routes)


def test_every_unsafe_route_checks_csrf(web: FastAPI) -> None:
    unsafe = [
        route
        for route in _routes(web.routes)
        if (route.methods or set()) & {"POST", "PUT", "PATCH", "DELETE"}
    ]
    assert {"/login", "/logout", "/signup", "/profile"} <= {route.path for route in unsafe}
    for route in unsafe:
        calls = {dependency.call for dependency in route.dependant.dependencies}
        assert check_csrf in calls, f"{route.path} does not check CSRF"
