"""Every page of the web app in a real browser (Debian's chromium, through the gateway of a
stack the browser tests share): axe-core finds no serious or critical violation, each page
has one <main>, a <title>, one <h1> and a visible keyboard focus, signed out and signed in,
at a phone's 390 px and a desktop's 1280 px (a screenshot of each under
var/artifacts/screenshots); and the board, loaded with an empty cache, weighs under 150 KB
on the wire."""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser
from taskflow_chassis.ports import free_ports

from .browser import (
    BROWSER_TESTS,
    accessibility_problems,
    is_web_page,
    new_context,
    screenshot,
    settle,
    shared_stack,
    sign_in,
)
from .conftest import FIGURES, System, team_with_member

pytestmark = [*BROWSER_TESTS, pytest.mark.timeout(600)]

BOARD_BUDGET = 150 * 1024


stack = shared_stack()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(system: System) -> dict[str, Any]:
    """A lead with a team, a project and a task assigned to a developer who joined."""
    world = await team_with_member(system, "pagelead", "pagedev")
    roles = (
        await system.client.get(f"/api/v1/teams/{world['team']['id']}/roles", headers=world["lead"])
    ).json()["items"]
    world["role"] = roles[0]
    world["project_id"] = world["task"]["project_id"]
    # So the tokens page lists one, and a webhook's own page exists (on the loopback, which
    # conftest's web_stack lets webhooks reach: a closed port, a delivery is refused at once).
    token = await system.client.post(
        "/api/v1/tokens",
        headers=world["lead"],
        json={"name": "Page check", "scopes": ["tasks.read"], "expires_in_days": 1},
    )
    assert token.status_code == 201, token.text

    async def register_webhook() -> Any:
        hook = await system.client.post(
            f"/api/v1/teams/{world['team']['id']}/webhooks",
            headers=world["lead"],
            json={"url": f"https://127.0.0.1:{free_ports(1)[0]}/hook", "event_types": ["*"]},
        )
        return hook.json() if hook.status_code == 201 else None

    world["webhook"] = await system.wait_for(
        register_webhook, what="the lead's membership to reach notify"
    )
    return world


SIGNED_OUT = {
    "login": "/login",
    "signup": "/signup",
    "check-email": "/signup/check-email",
    "forgot-password": "/forgot-password",
    "reset-password": "/reset-password?token=not-a-real-token",
    "verify-email": "/verify-email?token=not-a-real-token",
    "invitation": "/invitations/accept?token=not-a-real-token",
}


def signed_in_pages(world: dict[str, Any]) -> dict[str, str]:
    team, project, task = world["team"]["id"], world["project_id"], world["task"]["id"]
    return {
        "teams": "/teams",
        "team": f"/teams/{team}",
        "roles": f"/teams/{team}/roles",
        "role": f"/teams/{team}/roles/{world['role']['id']}",
        "invitations": f"/teams/{team}/invitations",
        "webhooks": f"/teams/{team}/webhooks",
        "webhook": f"/teams/{team}/webhooks/{world['webhook']['id']}",
        "projects": f"/teams/{team}/projects",
        "board": f"/projects/{project}",
        "task-list": f"/projects/{project}/tasks",
        "task": f"/tasks/{task}",
        "profile": "/profile",
        "notifications": "/notifications",
        "notification-settings": "/settings/notifications",
        "tokens": "/settings/tokens",
        # The audit pages (/settings/security, a team's audit): test_browser_audit.
    }


async def check_pages(
    browser: Browser, system: System, viewport: str, pages: dict[str, str], user: str | None
) -> None:
    context = await new_context(browser, system, viewport, axe=True)
    try:
        page = await context.new_page()
        if user is not None:
            await sign_in(page, user)
        failures: dict[str, list[str]] = {}
        not_web: list[str] = []
        for name, path in pages.items():
            response = await page.goto(path)
            assert response is not None, path
            await settle(page)
            if not is_web_page(await page.content()):
                not_web.append(f"{name} ({path}): not the web app's page yet")
                continue
            assert response.status < 500, f"{path}: {response.status}"
            await screenshot(page, f"{'in' if user else 'out'}-{name}", viewport)
            problems = await accessibility_problems(page)
            if problems:
                failures[f"{name} ({path})"] = problems
        assert not failures, "\n".join(
            f"{page_name}:\n  " + "\n  ".join(found) for page_name, found in failures.items()
        )
        if not_web:
            pytest.skip("page not built yet: " + "; ".join(not_web))
    finally:
        await context.close()


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
async def test_signed_out_pages_are_accessible(
    system: System, browser: Browser, viewport: str
) -> None:
    await check_pages(browser, system, viewport, SIGNED_OUT, None)


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
async def test_signed_in_pages_are_accessible(
    system: System, browser: Browser, world: dict[str, Any], viewport: str
) -> None:
    await check_pages(browser, system, viewport, signed_in_pages(world), "pagelead")


async def test_the_board_weighs_under_150_kb_with_an_empty_cache(
    system: System, browser: Browser, world: dict[str, Any]
) -> None:
    """Every byte the board's load transfers (document, CSS, scripts, partial loads), as
    Chromium's network layer counted them (CDP's encodedDataLength: headers and bodies)."""
    context = await new_context(browser, system, "desktop")
    try:
        page = await context.new_page()
        await sign_in(page, "pagelead")
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable")
        await cdp.send("Network.clearBrowserCache")
        await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        sizes: dict[str, int] = {}
        urls: dict[str, str] = {}
        cdp.on(
            "Network.responseReceived",
            lambda event: urls.__setitem__(event["requestId"], event["response"]["url"]),
        )
        cdp.on(
            "Network.loadingFinished",
            lambda event: sizes.__setitem__(event["requestId"], int(event["encodedDataLength"])),
        )
        await page.goto(f"/projects/{world['project_id']}")
        await settle(page)
        await page.wait_for_timeout(500)
        total = sum(sizes.values())
        detail = ", ".join(
            f"{urls.get(request, request).rsplit('/', 1)[-1][:40]}={size}"
            for request, size in sorted(sizes.items(), key=lambda item: -item[1])
        )
        FIGURES.append(f"browser: board page with an empty cache: {total} bytes ({detail})")
        assert total < BOARD_BUDGET, f"{total} bytes transferred: {detail}"
    finally:
        await context.close()
