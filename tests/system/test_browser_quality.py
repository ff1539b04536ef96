"""Issue 19's point 4 in a real browser (Debian's chromium, through the gateway of a stack
of its own): with scripts off a person signed in by the plain login form reads the teams,
a team, the board, the task list and a task, and moves a card with its plain Move form; in
dark mode the page is dark with light text (and the opposite in light mode); and the board,
the task list (before and after "Load more") and the notification feed load without layout
shift (a cumulative layout shift under 0.1, Core Web Vitals' "good"), also over a slow network
that brings a page in pieces."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from .browser import BROWSER_TESTS, VIEWPORTS, new_context, settle, shared_stack, sign_in
from .conftest import System, team_with_member

pytestmark = [*BROWSER_TESTS, pytest.mark.timeout(300)]

GOOD_CLS = 0.1
TASK_LIST_PAGE = 50  # the web's task list page (taskflow_web.tasks.service.PAGE_SIZE)

stack = shared_stack()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(system: System) -> dict[str, Any]:
    """A lead with a team, a project and more tasks than the task list's first page."""
    world = await team_with_member(system, "qualitylead", "qualitydev")
    project_id = world["task"]["project_id"]
    for start in range(0, TASK_LIST_PAGE, 10):
        responses = await asyncio.gather(
            *(
                system.client.post(
                    f"/api/v1/projects/{project_id}/tasks",
                    headers=world["lead"],
                    json={"title": f"Filler {n:02d}"},
                )
                for n in range(start, start + 10)
            )
        )
        assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    world["project_id"] = project_id
    return world


async def test_pages_read_and_plain_forms_work_with_scripts_off(
    system: System, browser: Browser, world: dict[str, Any]
) -> None:
    context = await browser.new_context(
        base_url=system.stack.gateway_url, java_script_enabled=False, **VIEWPORTS["desktop"]
    )
    context.set_default_timeout(30_000)
    try:
        page = await context.new_page()
        await sign_in(page, "qualitylead")
        team, project, task = world["team"], world["project_id"], world["task"]
        expected = {
            "/teams": team["name"],
            f"/teams/{team['id']}": team["name"],
            f"/projects/{project}": task["title"],
            f"/projects/{project}/tasks": "Filler ",  # its first page: the newest tasks
            f"/tasks/{task['id']}": task["title"],
        }
        for path, text in expected.items():
            response = await page.goto(path)
            assert response is not None and response.status == 200, path
            assert text in await page.content(), f"{path}: no {text!r}"

        await page.goto(f"/projects/{project}")
        card = page.locator(".task-card", has_text=task["title"])
        before = await card.locator("xpath=ancestor::section").get_attribute("data-status")
        target = await card.locator("select[name=status] option").first.get_attribute("value")
        assert target and target != before
        await card.locator("select[name=status]").select_option(target)
        async with page.expect_navigation():
            await card.get_by_role("button", name="Move", exact=True).click()
        moved = page.locator(f"#column-{target} .task-card", has_text=task["title"])
        assert await moved.count() == 1, f"{task['title']!r} not in {target} after the move"
        api = await system.client.get(f"/api/v1/tasks/{task['id']}", headers=world["lead"])
        assert api.json()["status"] == target
    finally:
        await context.close()


LUMINANCE = """() => {
    const channel = (c) => {
        c /= 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    const luminance = (css) => {
        const [r, g, b] = css.match(/[\\d.]+/g).map(Number);
        return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
    };
    const s = getComputedStyle(document.body);
    return {background: luminance(s.backgroundColor), text: luminance(s.color)};
}"""


@pytest.mark.parametrize("scheme", ["dark", "light"])
async def test_dark_mode_follows_the_system_scheme(
    system: System, browser: Browser, world: dict[str, Any], scheme: Literal["dark", "light"]
) -> None:
    context = await browser.new_context(
        base_url=system.stack.gateway_url, color_scheme=scheme, **VIEWPORTS["desktop"]
    )
    context.set_default_timeout(30_000)
    try:
        page = await context.new_page()
        await page.goto("/login")
        seen = {"login": await page.evaluate(LUMINANCE)}
        await sign_in(page, "qualitylead")
        await page.goto(f"/projects/{world['project_id']}")
        seen["board"] = await page.evaluate(LUMINANCE)
        for name, found in seen.items():
            if scheme == "dark":
                assert found["background"] < 0.1 < 0.5 < found["text"], (name, found)
            else:
                assert found["background"] > 0.5 > 0.1 > found["text"], (name, found)
    finally:
        await context.close()


# Registered before any page script: every layout shift not caused by recent input.
CLS_OBSERVER = """
window.__cls = 0;
new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
        if (!entry.hadRecentInput) window.__cls += entry.value;
    }
}).observe({type: 'layout-shift', buffered: true});
"""


# 30 kB/s each way, 50 ms latency (Chrome's own emulation).
SLOW_NETWORK = {
    "offline": False,
    "latency": 50,
    "downloadThroughput": 30_000,
    "uploadThroughput": 30_000,
}


async def layout_shift(page: Page) -> float:
    await settle(page)
    await page.wait_for_timeout(300)
    return float(await page.evaluate("() => window.__cls"))


async def test_lists_load_without_layout_shift(
    system: System, browser: Browser, world: dict[str, Any]
) -> None:
    context = await new_context(browser, system, "desktop")
    await context.add_init_script(CLS_OBSERVER)
    try:
        page = await context.new_page()
        await sign_in(page, "qualitydev")
        # A slow network (a phone's, or a busy machine): pages arrive in pieces, and the
        # browser shows each piece, so what is laid out before the rest arrives counts.
        network = await context.new_cdp_session(page)
        await network.send("Network.enable")
        await network.send("Network.emulateNetworkConditions", SLOW_NETWORK)
        project = world["project_id"]
        scores: dict[str, float] = {}
        await page.goto(f"/projects/{project}")
        scores["board"] = await layout_shift(page)
        await page.goto(f"/projects/{project}/tasks")
        scores["task list"] = await layout_shift(page)
        more = page.get_by_role("link", name="Load more tasks")
        await more.scroll_into_view_if_needed()
        await page.evaluate("() => { window.__cls = 0; }")
        # A script's click: not an input the browser would discount from the score.
        await more.dispatch_event("click")
        # The second page holds the oldest task, the one team_with_member made.
        # (its link: the row's tick box has a label naming it too)
        await page.get_by_role("link", name=world["task"]["title"], exact=True).wait_for()
        scores["task list after load more"] = await layout_shift(page)
        await page.goto("/notifications")
        scores["notifications"] = await layout_shift(page)
        bad = {name: score for name, score in scores.items() if score >= GOOD_CLS}
        assert not bad, f"cumulative layout shift of {GOOD_CLS} or more: {scores}"
    finally:
        await context.close()
