"""The board in a real browser (Debian's chromium, through the gateway of the shared stack)
while others change it: a card held by the pointer stays held when a colleague's change
reaches the board live, and dropping it moves it (the answer shows the colleague's change
too); a drag given up lets the held refresh run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, expect

from .browser import BROWSER_TESTS, new_context, settle, shared_stack, sign_in
from .conftest import System, team_with_member

pytestmark = [*BROWSER_TESTS, pytest.mark.timeout(300)]

stack = shared_stack()

# The page's own second listener on /events: it tells the test when the stream has passed
# on a change (the page's listener hears it at the same moment).
HEARD = """() => {
    window.__heard = [];
    const source = new EventSource("/events");
    source.addEventListener("task.changed", (event) => {
        window.__heard.push(JSON.parse(event.data).task_id);
    });
    return new Promise((resolve) => source.addEventListener("unread", () => resolve(true)));
}"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(system: System) -> dict[str, Any]:
    made: dict[str, Any] = await team_with_member(system, "boardlead", "boarddev")
    return made


async def colleague_adds_a_task(
    system: System, world: dict[str, Any], page: Page, title: str
) -> None:
    """The developer adds a task by the API; back once the lead's stream has told of it."""
    created = await system.client.post(
        f"/api/v1/projects/{world['task']['project_id']}/tasks",
        headers=world["dev"],
        json={"title": title},
    )
    assert created.status_code == 201, created.text
    await page.wait_for_function(
        "(id) => window.__heard.includes(id)", arg=created.json()["id"], timeout=30_000
    )
    await page.wait_for_timeout(300)  # the board's own listener, and a refresh if one starts


async def hold(page: Page, title: str) -> None:
    """The pointer presses the card's corner and starts to drag it."""
    box = await page.locator(".task-card", has_text=title).bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + 4, box["y"] + 4)
    await page.mouse.down()
    await page.mouse.move(box["x"] + 24, box["y"] + 24, steps=4)


async def release_over(page: Page, status: str) -> None:
    box = await page.locator(f"#column-{status} h2").bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=8)
    await page.mouse.up()


@asynccontextmanager
async def lead_on_the_board(
    system: System, browser: Browser, world: dict[str, Any]
) -> AsyncIterator[Page]:
    context = await new_context(browser, system, "desktop")
    try:
        page = await context.new_page()
        await sign_in(page, "boardlead")
        await page.goto(f"/projects/{world['task']['project_id']}")
        await settle(page)
        assert await page.evaluate(HEARD)
        yield page
    finally:
        await context.close()


async def test_a_held_card_survives_a_live_change_and_is_moved_when_dropped(
    system: System, browser: Browser, world: dict[str, Any]
) -> None:
    async with lead_on_the_board(system, browser, world) as page:
        title = world["task"]["title"]
        status = (
            await page.locator(".task-card", has_text=title)
            .locator("xpath=ancestor::section")
            .get_attribute("data-status")
        )
        target = "in_review" if status != "in_review" else "todo"

        await hold(page, title)
        await colleague_adds_a_task(system, world, page, "Added while the card was held")
        await release_over(page, target)

        await expect(page.locator("#main .flash")).to_contain_text(f"“{title}” moved to")
        await expect(page.locator(f"#column-{target} .task-card", has_text=title)).to_be_visible()
        # The drop's answer is the board afresh: the colleague's task is on it.
        await expect(page.get_by_text("Added while the card was held")).to_be_visible()
        task = await system.client.get(
            f"/api/v1/tasks/{world['task']['id']}", headers=world["lead"]
        )
        assert task.json()["status"] == target


async def test_a_drag_given_up_lets_the_held_live_change_in(
    system: System, browser: Browser, world: dict[str, Any]
) -> None:
    async with lead_on_the_board(system, browser, world) as page:
        title = world["task"]["title"]

        await hold(page, title)
        await colleague_adds_a_task(system, world, page, "Added during a drag given up")
        held = page.get_by_text("Added during a drag given up")
        assert await held.count() == 0, "the board was refreshed under the held card"
        await page.keyboard.press("Escape")  # the drag is given up: dragend, no drop
        await page.mouse.up()

        await expect(held).to_be_visible(timeout=15_000)
