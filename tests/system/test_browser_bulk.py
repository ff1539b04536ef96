"""Issue 21's bulk change in a real browser (Debian's chromium, through the gateway of a stack
the browser tests share): the lead ticks two tasks of the list with the keyboard (Space on a
row's tick box, Tab to the next row's), picks a status and a label, sends, and both change;
with scripts off the same plain form changes a third; a stale task makes the whole change
refused with its reason beside its row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from .browser import BROWSER_TESTS, VIEWPORTS, new_context, settle, shared_stack, sign_in
from .conftest import System, team_with_member

pytestmark = [*BROWSER_TESTS, pytest.mark.timeout(300)]

stack = shared_stack()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(system: System) -> dict[str, Any]:
    world: dict[str, Any] = await team_with_member(system, "bulklead", "bulkdev")
    project = world["task"]["project_id"]
    world["tasks"] = [world["task"]]
    for title in ("Second task", "Third task"):
        made = await system.client.post(
            f"/api/v1/projects/{project}/tasks", headers=world["lead"], json={"title": title}
        )
        assert made.status_code == 201, made.text
        world["tasks"].append(made.json())
    return world


async def task_of(system: System, world: dict[str, Any], task_id: str) -> dict[str, Any]:
    found = await system.client.get(f"/api/v1/tasks/{task_id}", headers=world["lead"])
    assert found.status_code == 200, found.text
    task: dict[str, Any] = found.json()
    return task


@asynccontextmanager
async def task_list(
    browser: Browser, system: System, world: dict[str, Any], *, scripts: bool = True
) -> AsyncIterator[Page]:
    """The lead's task list, signed in, in a browser of its own (a phone without scripts)."""
    if scripts:
        context = await new_context(browser, system, "desktop")
    else:
        context = await browser.new_context(
            base_url=system.stack.gateway_url, java_script_enabled=False, **VIEWPORTS["phone"]
        )
        context.set_default_timeout(30_000)
    try:
        page = await context.new_page()
        await sign_in(page, "bulklead")
        await page.goto(f"/projects/{world['task']['project_id']}/tasks")
        if scripts:
            await settle(page)
        yield page
    finally:
        await context.close()


async def focused_id(page: Page) -> str:
    found: str = await page.evaluate("() => document.activeElement && document.activeElement.id")
    return found


async def test_tick_two_tasks_and_change_them_at_once(
    system: System, browser: Browser, world: dict[str, Any]
) -> None:
    first, second, third = world["tasks"]
    async with task_list(browser, system, world) as page:
        # Newest first: "Second task" above the first one. Its box, Space; Tab past the
        # row's link to the next row's box, Space.
        await page.get_by_label(f"Select “{second['title']}”", exact=True).focus()
        await page.keyboard.press("Space")
        await page.keyboard.press("Tab")
        await page.keyboard.press("Tab")
        assert await focused_id(page) == f"pick-{first['id']}"
        await page.keyboard.press("Space")
        for task in (first, second):
            assert await page.locator(f"#pick-{task['id']}").is_checked()
        await page.get_by_label("Status", exact=True).select_option("in_review")
        await page.get_by_label("Add labels", exact=True).fill("launch")
        await page.get_by_label("Add labels", exact=True).press("Enter")  # submits the form
        await page.wait_for_selector("text=2 tasks changed.")
        for task in (first, second):
            changed = await task_of(system, world, task["id"])
            assert changed["status"] == "in_review" and changed["labels"] == ["launch"]
        assert (await task_of(system, world, third["id"]))["status"] == "todo"


async def test_with_scripts_off_the_plain_form_changes_a_task(
    system: System, browser: Browser, world: dict[str, Any]
) -> None:
    third = world["tasks"][2]
    async with task_list(browser, system, world, scripts=False) as page:
        await page.get_by_label(f"Select “{third['title']}”", exact=True).check()
        await page.get_by_label("Due date", exact=True).fill("2031-05-04")
        await page.get_by_role("button", name="Change the selected tasks").click()
        await page.wait_for_selector("text=1 task changed.")
        assert (await task_of(system, world, third["id"]))["due_at"].startswith("2031-05-04")


async def test_a_stale_task_refuses_the_whole_change_and_says_why_beside_it(
    system: System, browser: Browser, world: dict[str, Any]
) -> None:
    first, second, _ = world["tasks"]
    async with task_list(browser, system, world) as page:
        await page.get_by_label(f"Select “{first['title']}”", exact=True).check()
        await page.get_by_label(f"Select “{second['title']}”", exact=True).check()
        renamed = await system.client.patch(
            f"/api/v1/tasks/{second['id']}", headers=world["lead"], json={"title": "Renamed"}
        )
        assert renamed.status_code == 200, renamed.text
        await page.get_by_label("Status", exact=True).select_option("done")
        await page.get_by_role("button", name="Change the selected tasks").click()
        await page.wait_for_selector("text=Nothing was changed.")
        reason = page.locator(f"#why-{second['id']}")
        assert await reason.is_visible() and "Not changed" in await reason.inner_text()
        box = page.locator(f"#pick-{second['id']}")
        assert await box.get_attribute("aria-invalid") == "true"
        assert await page.locator(f"#pick-{first['id']}").is_checked()  # the selection kept
        for task in (first, second):
            assert (await task_of(system, world, task["id"]))["status"] != "done"
