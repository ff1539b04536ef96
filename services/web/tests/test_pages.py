"""The pages of the web app's core, as a person uses them: sign up, confirm the address
from the email, sign in, register a phone number (a wrong one is shown beside its field),
sign out; forgot and reset password; the layout, error pages and static files."""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI
from taskflow_embedded.main import Dispatcher

from .conftest import ORIGIN, PASSWORD, Browser, browser_for, emailed_token


async def test_sign_up_verify_sign_in_profile_sign_out(browser: Browser) -> None:
    signed_up = await browser.get("/signup")
    assert signed_up.status_code == 200
    assert 'autocomplete="new-password"' in signed_up.text
    address = await browser.sign_up("ada")

    entered = await browser.sign_in("ada")
    assert entered.status_code == 303 and entered.headers["location"] == "/teams"
    teams = await browser.get("/teams")
    assert teams.status_code == 200 and "You are not in a team yet." in teams.text
    assert ">ada</a>" in teams.text  # the header shows who is signed in

    profile = await browser.get("/profile")
    assert profile.status_code == 200, profile.text
    assert address in profile.text and "confirmed" in profile.text
    assert "Register a phone number" in profile.text

    wrong = await browser.post(
        "/profile", {"display_name": "Ada L.", "phone_number": "12", "region": ""}
    )
    assert wrong.status_code == 422, wrong.text
    field = re.search(r'<input id="f-phone_number"[^>]*>', wrong.text)
    assert field, wrong.text
    assert 'aria-invalid="true"' in field.group(0)
    assert 'aria-describedby="f-phone_number-hint f-phone_number-error"' in field.group(0)
    assert 'value="12"' in field.group(0)  # what was typed is kept
    assert 'id="f-phone_number-error"' in wrong.text
    assert 'value="Ada L."' in wrong.text
    assert 'role="alert"' in wrong.text  # the problem's detail at the top of the form

    saved = await browser.post(
        "/profile", {"display_name": "Ada L.", "phone_number": "+1 415 555 2671", "region": ""}
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/profile"
    shown = await browser.get("/profile")
    assert "Your profile is saved." in shown.text and 'value="+14155552671"' in shown.text
    version = re.search(r'name="version" value="([^"]+)"', shown.text)
    assert version, shown.text  # the page's version goes back with the change (If-Match)
    changed = await browser.post(
        "/profile",
        {
            "display_name": "Ada",
            "phone_number": "+1 415 555 2672",
            "region": "",
            "version": html.unescape(version.group(1)),
        },
    )
    assert changed.status_code == 303
    assert 'value="+14155552672"' in (await browser.get("/profile")).text

    out = await browser.post("/logout")
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert (
        'taskflow_session=""' in out.headers["set-cookie"]
        or "Max-Age=0" in out.headers["set-cookie"]
    )
    after = await browser.get("/profile")
    assert after.status_code == 303 and after.headers["location"] == "/login?next=%2Fprofile"


async def test_sign_in_problems_show_on_the_form(browser: Browser) -> None:
    await browser.sign_up("bob")
    wrong = await browser.sign_in("bob", "not-the-password")
    assert wrong.status_code == 401
    assert 'value="bob"' in wrong.text  # the username is kept, the password never
    assert "not-the-password" not in wrong.text
    assert 'role="alert"' in wrong.text

    taken = await browser.post(
        "/signup", {"username": "bob", "email": "bob2@example.com", "password": PASSWORD}
    )
    assert taken.status_code == 409
    assert 'id="f-username-error"' in taken.text and 'value="bob2@example.com"' in taken.text


async def test_sign_in_returns_to_the_page_asked_for(browser: Browser) -> None:
    await browser.sign_up("cleo")
    asked = await browser.get("/profile")
    assert asked.headers["location"] == "/login?next=%2Fprofile"
    page = await browser.get(asked.headers["location"])
    assert 'name="next" value="/profile"' in page.text
    back = await browser.post(
        "/login", {"username": "cleo@example.com", "password": PASSWORD, "next": "/profile"}
    )
    assert back.status_code == 303 and back.headers["location"] == "/profile"
    # Never to another site.
    await browser.post("/logout")
    elsewhere = await browser.sign_in("cleo")
    assert elsewhere.headers["location"] == "/teams"
    await browser.post("/logout")
    await browser.get("/login")
    evil = await browser.post(
        "/login", {"username": "cleo", "password": PASSWORD, "next": "//evil.example/x"}
    )
    assert evil.headers["location"] == "/teams"


async def test_forgot_and_reset_password(browser: Browser) -> None:
    address = await browser.sign_up("dora")
    await browser.get("/forgot-password")
    asked = await browser.post("/forgot-password", {"email": address})
    assert asked.status_code == 303 and asked.headers["location"] == "/login"
    assert "reset link is on its way" in (await browser.get("/login")).text
    token = await emailed_token(browser.mail, address, "Reset")
    page = await browser.get("/reset-password", params={"token": token})
    assert page.status_code == 200 and f'value="{token}"' in page.text

    short = await browser.post("/reset-password", {"token": token, "new_password": "short"})
    assert short.status_code == 422 and 'id="f-new_password-error"' in short.text
    done = await browser.post(
        "/reset-password", {"token": token, "new_password": "a-brand-new-password"}
    )
    assert done.status_code == 303
    assert "Your password is changed" in (await browser.get("/login")).text
    assert (await browser.sign_in("dora", "a-brand-new-password")).status_code == 303

    await browser.post("/logout")
    await browser.get("/login")
    again = await browser.post(
        "/reset-password", {"token": token, "new_password": "yet-another-password"}
    )
    assert again.status_code == 400 and 'role="alert"' in again.text


async def test_a_used_verification_link_says_so(browser: Browser) -> None:
    await browser.sign_up("eve")
    token = await emailed_token(browser.mail, "eve@example.com", "Verify")
    again = await browser.get("/verify-email", params={"token": token})
    assert again.status_code in {400, 409} and 'role="alert"' in again.text


async def test_layout_static_files_and_error_pages(browser: Browser) -> None:
    page = await browser.get("/login")
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert '<a class="skip-link" href="#main">' in page.text and '<main id="main"' in page.text
    assert 'hx-headers=\'{"X-CSRF-Token": "' in page.text
    for url in re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text):
        assert "?v=" in url
        answer = await browser.client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
    htmx = await browser.client.get("/static/vendor/htmx/htmx.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text
    licence = await browser.client.get("/static/vendor/htmx/LICENSE")
    assert "Zero-Clause BSD" in licence.text
    css = await browser.client.get("/static/app.css")
    assert "prefers-color-scheme: dark" in css.text and ":focus-visible" in css.text

    missing = await browser.get("/no-such-page")
    assert missing.status_code == 404 and "Page not found" in missing.text
    assert (await browser.client.get("/static/nothing.css")).status_code == 404
    for api_page in ("/docs/web", "/openapi/web.json", "/docs"):
        assert (await browser.client.get(api_page)).status_code == 404
    assert (await browser.client.get("/healthz")).json()["service"] == "web"
    assert (await browser.client.get("/readyz")).json()["status"] == "ready"


async def test_the_dispatcher_sends_other_paths_to_web(embedded: Dispatcher, web: FastAPI) -> None:
    transport = httpx.ASGITransport(app=embedded)
    async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
        home = await client.get("/")
        assert home.status_code == 303 and home.headers["location"] == "/login"
        assert "taskflow_session=" in home.headers["set-cookie"]
        for flag in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/"):
            assert flag in home.headers["set-cookie"]
        assert (await client.get("/login")).status_code == 200
        assert (await client.get("/static/app.css")).status_code == 200
        api = await client.get("/api/v1/nothing")
        assert api.status_code == 404
        assert api.headers["content-type"] == "application/problem+json"
        docs = await client.get("/docs")
        assert docs.status_code == 200 and "/openapi/web.json" not in docs.text
        health = (await client.get("/healthz")).json()
        assert health["services"]["web"]["status"] == "ok"


@contextlib.asynccontextmanager
async def on_two_devices(browser: Browser, web: FastAPI, tmp_path: Path) -> AsyncIterator[Browser]:
    """ada signed up and in on ``browser``, and signed in on another device (yielded)."""
    await browser.sign_up("ada")
    assert (await browser.sign_in("ada")).status_code == 303
    phone = browser_for(web, tmp_path / "mail")
    async with phone.client:
        assert (await phone.sign_in("ada")).status_code == 303
        yield phone


async def test_a_password_changed_on_the_profile_keeps_this_browser_and_ends_the_others(
    browser: Browser, web: FastAPI, tmp_path: Path
) -> None:
    async with on_two_devices(browser, web, tmp_path) as phone:
        page = await browser.get("/profile")
        assert 'action="/profile/password"' in page.text
        assert 'autocomplete="current-password"' in page.text

        wrong = await browser.post(
            "/profile/password",
            {"current_password": "not-the-password", "new_password": "lovelace-notes-1843"},
        )
        assert wrong.status_code == 403, wrong.text
        assert "The current password is wrong." in wrong.text
        assert "not-the-password" not in wrong.text  # a password is never shown again
        weak = await browser.post(
            "/profile/password", {"current_password": PASSWORD, "new_password": "short"}
        )
        assert weak.status_code == 422, weak.text
        field = re.search(r'<input id="f-new_password"[^>]*>', weak.text)
        assert field and 'aria-invalid="true"' in field.group(0), weak.text
        assert (await phone.get("/profile")).status_code == 200  # nothing changed yet

        session = browser.cookie
        changed = await browser.post(
            "/profile/password",
            {"current_password": PASSWORD, "new_password": "lovelace-notes-1843"},
        )
        assert changed.status_code == 303 and changed.headers["location"] == "/profile"
        assert browser.cookie not in {None, session}  # signed in again, under a new id
        shown = await browser.get("/profile")
        assert shown.status_code == 200 and "every other session" in shown.text

        ended = await phone.get("/profile")
        assert ended.status_code == 303 and ended.headers["location"].startswith("/login")

    later = browser_for(web, tmp_path / "mail")
    async with later.client:
        refused = await later.sign_in("ada")
        assert refused.status_code == 401, refused.text
        assert (await later.sign_in("ada", "lovelace-notes-1843")).status_code == 303


async def test_a_password_changed_while_auth_refuses_sign_ins_ends_this_session_too(
    browser: Browser, web: FastAPI, tmp_path: Path
) -> None:
    await browser.sign_up("ada")
    assert (await browser.sign_in("ada")).status_code == 303
    guesser = browser_for(web, tmp_path / "mail")  # from the same address: it gets locked
    async with guesser.client:
        for _ in range(5):
            guessed = await guesser.sign_in("ada", "a-wrong-guess")
            assert guessed.status_code in {401, 429}, guessed.text
    await browser.get("/profile")
    changed = await browser.post(
        "/profile/password", {"current_password": PASSWORD, "new_password": "lovelace-notes-1843"}
    )
    assert changed.status_code == 303, changed.text
    assert changed.headers["location"].startswith("/login")
    login = await browser.get(changed.headers["location"])
    assert "Your password is changed. Sign in with the new one." in login.text
    assert (await browser.get("/profile")).status_code == 303  # signed out here too


async def test_signing_out_everywhere_ends_this_browser_and_the_others(
    browser: Browser, web: FastAPI, tmp_path: Path
) -> None:
    async with on_two_devices(browser, web, tmp_path) as phone:
        page = await browser.get("/profile")
        assert 'action="/profile/sign-out-everywhere"' in page.text
        out = await browser.post("/profile/sign-out-everywhere", {})
        assert out.status_code == 303 and out.headers["location"] == "/login", out.text
        login = await browser.get("/login")
        assert "Every session of your account is signed out, this one too." in login.text
        assert (await browser.get("/profile")).status_code == 303
        ended = await phone.get("/profile")
        assert ended.status_code == 303 and ended.headers["location"].startswith("/login")
    assert (await browser.sign_in("ada")).status_code == 303  # the password still opens it
    assert (await browser.get("/profile")).status_code == 200
    # Two clicks at the same instant: both end on the sign-in page, neither fails.
    await browser.get("/profile")
    clicks = await asyncio.gather(
        *(browser.post("/profile/sign-out-everywhere", {}) for _ in range(2))
    )
    for click in clicks:
        assert click.status_code == 303, click.text
        assert click.headers["location"].startswith("/login"), click.headers
    assert (await browser.get("/profile")).status_code == 303


async def test_an_account_deleted_from_the_profile_signs_out_and_cannot_sign_in(
    browser: Browser,
) -> None:
    await browser.sign_up("ada")
    assert (await browser.sign_in("ada")).status_code == 303
    page = await browser.get("/profile")
    assert 'action="/profile/delete"' in page.text
    assert len(re.findall(r'<input id="([^"]+)"', page.text)) == len(
        set(re.findall(r'<input id="([^"]+)"', page.text))
    )  # each field's id once on the page

    wrong = await browser.post("/profile/delete", {"password": "not-the-password"})
    assert wrong.status_code == 403 and "The current password is wrong." in wrong.text
    assert (await browser.get("/profile")).status_code == 200  # still there, signed in

    deleted = await browser.post("/profile/delete", {"password": PASSWORD})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/login"
    login = await browser.get("/login")
    assert "Your account is deleted." in login.text
    assert (await browser.get("/profile")).status_code == 303  # signed out
    refused = await browser.sign_in("ada")
    assert refused.status_code == 401, refused.text
