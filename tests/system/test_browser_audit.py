"""The audit pages in a real browser (Debian's chromium, through the gateway of the stack the
browser tests share): "Security activity" and a team's "Audit log" have no serious or
critical axe-core violation, one <main>, one <h1> and a visible focus at 390 and 1280 px;
and with scripts off a leader filters the team's log by kind with the form, and "Load more"
(a plain link) opens the next entries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser

from .browser import (
    BROWSER_TESTS,
    VIEWPORTS,
    accessibility_problems,
    new_context,
    screenshot,
    settle,
    shared_stack,
    sign_in,
)
from .conftest import PASSWORD, System, team_with_member

pytestmark = [*BROWSER_TESTS, pytest.mark.timeout(600)]

stack = shared_stack()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(system: System) -> dict[str, Any]:
    """A lead with a team a developer joined; thirty more log-ins of the lead's, so their
    own log has more than a page."""
    world = await team_with_member(system, "auditlead", "auditdev")
    logged_in = 0
    while logged_in < 30:
        login = await system.client.post(
            "/api/v1/auth/jwt/create", json={"username": "auditlead", "password": PASSWORD}
        )
        if login.status_code == 429:  # the gateway's 10 a second on auth: wait, as told
            await asyncio.sleep(float(login.headers.get("retry-after", "1")))
            continue
        assert login.status_code == 200, login.text
        logged_in += 1
    return world


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
async def test_the_audit_pages_are_accessible(
    system: System, browser: Browser, world: dict[str, Any], viewport: str
) -> None:
    context = await new_context(browser, system, viewport, axe=True)
    try:
        page = await context.new_page()
        await sign_in(page, "auditlead")
        failures: dict[str, list[str]] = {}
        for name, path in {
            "security-activity": "/settings/security",
            "team-audit": f"/teams/{world['team']['id']}/audit",
        }.items():
            response = await page.goto(path)
            assert response is not None and response.status == 200, path
            await settle(page)
            await screenshot(page, f"in-{name}", viewport)
            problems = await accessibility_problems(page)
            if problems:
                failures[name] = problems
        assert not failures, failures
    finally:
        await context.close()


async def test_filters_and_load_more_work_without_scripts(
    system: System, browser: Browser, world: dict[str, Any]
) -> None:
    context = await browser.new_context(
        base_url=system.stack.gateway_url, java_script_enabled=False, **VIEWPORTS["desktop"]
    )
    context.set_default_timeout(30_000)
    try:
        page = await context.new_page()
        await page.goto("/login")
        await page.get_by_label("Username or email", exact=True).fill("auditlead")
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_role("button", name="Sign in", exact=True).click()
        await page.wait_for_url(lambda url: "/login" not in url)
        # The team's log, filtered to the invitation's acceptance by the form.
        await page.goto(f"/teams/{world['team']['id']}")
        await page.get_by_role("link", name="Audit log").click()
        await page.get_by_label("Invitation accepted").check()
        await page.get_by_role("button", name="Show").click()
        await page.wait_for_url(lambda url: "kind=invitation.accepted" in url)
        kinds = await page.locator("#audit-list li").evaluate_all(
            "items => items.map(i => i.dataset.kind)"
        )
        assert kinds == ["invitation.accepted"], kinds
        # One's own activity: more than a page of log-ins; "Load more" is the next page.
        # (the log-ins reach teams by events: a moment after the fixture made them)
        for _ in range(150):
            await page.goto("/settings/security")
            if await page.get_by_role("link", name="Load more").count():
                break
            await asyncio.sleep(0.2)
        first = await page.locator("#audit-list li").evaluate_all("items => items.map(i => i.id)")
        await page.get_by_role("link", name="Load more").click()
        await page.wait_for_url(lambda url: "cursor=" in url)
        following = await page.locator("#audit-list li").evaluate_all(
            "items => items.map(i => i.id)"
        )
        assert first and following and not set(first) & set(following)
    finally:
        await context.close()
