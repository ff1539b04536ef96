"""The browser tests' harness: Debian's chromium driven by Playwright, against the web app
behind the gateway of a system-test stack (tests/system/conftest.py's ``web_stack`` and
``browser``: the process's shared stack and one chromium for all the browser test files).

Never a browser of Playwright's own (no ``playwright install``): the one at ``CHROMIUM``
(default /usr/bin/chromium, else ``chromium`` on PATH; ``make browser`` installs it). Without
one the tests skip with the reason, and fail when CI is set. The system tests call the
gateway in-process (GatewayTransport); a browser needs it on a port, so the stack here also
runs the gateway emulator (taskflow_embedded.gateway) as a process of its own.

Screenshots go to var/artifacts/screenshots (git-ignored with var/), one per page and
viewport, for a person to look at after a run.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from .conftest import PASSWORD, System
from .conftest import shared_stack as shared_stack_of_conftest

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).with_name("vendor") / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "artifacts" / "screenshots"

DESKTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Mobile Safari/537.36"
    ),
}
VIEWPORTS = {"desktop": DESKTOP, "phone": PHONE}


# Every browser test module's marks: its tests and fixtures run in the session's event loop,
# where the process's one web stack and chromium live (conftest's ``web_stack`` and
# ``browser``); pytest-xdist hands them all to one worker (the root conftest).
BROWSER_TESTS = [pytest.mark.asyncio(loop_scope="session")]


def shared_stack() -> Any:
    """A browser test module's fixture ``system``: the process's shared stack (conftest's
    ``shared_stack``), which every browser test file uses; each file signs up its own people
    and teams, with names no other file uses. ``stack = shared_stack()`` there."""
    return shared_stack_of_conftest(browser=True)


async def new_context(
    browser: Browser, system: System, viewport: str, *, axe: bool = False
) -> BrowserContext:
    """A context (a person's browser profile) at ``viewport``; ``axe``: axe-core in every page."""
    context = await browser.new_context(base_url=system.stack.gateway_url, **VIEWPORTS[viewport])
    context.set_default_timeout(30_000)
    if axe:
        # An init script runs through the DevTools protocol: the page's CSP does not apply.
        await context.add_init_script(path=str(AXE))
    return context


# --- what a person does ----------------------------------------------------------------------


async def fill_form(page: Page, values: dict[str, str], submit: str) -> None:
    """Fill fields by their label and press the button named ``submit``."""
    for label, value in values.items():
        await page.get_by_label(label, exact=True).fill(value)
    await page.get_by_role("button", name=submit, exact=True).click()


async def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    await page.goto("/login")
    await fill_form(page, {"Username or email": username, "Password": password}, "Sign in")
    await page.wait_for_url(re.compile(r"^(?!.*/login)"))


async def emailed_link(system: System, address: str, subject_start: str) -> str:
    """The path and query of the newest link in the newest email to ``address`` whose
    subject starts so (the link points at the stack's gateway)."""
    messages = await system.wait_for(
        lambda: [m for m in system.emails(address) if m["Subject"].startswith(subject_start)],
        what=f"the email to {address}: {subject_start}",
    )
    found = re.search(r"https?://[^\s\"<>]+", system.text_of(messages[-1]))
    assert found is not None, f"no link in {messages[-1]['Subject']!r}"
    link = found.group(0)
    assert link.startswith(system.stack.gateway_url), link
    return link[len(system.stack.gateway_url) :]


def is_web_page(html: str) -> bool:
    """Whether a page is the web app's (its layout), not a service's plain link page."""
    return 'class="site-header"' in html


# --- what the tests check on every page ----------------------------------------------------

SERIOUS = {"serious", "critical"}


async def accessibility_problems(page: Page) -> list[str]:
    """axe-core's serious and critical violations, then the page's own structure: one
    <main>, a <title>, one <h1>, and a visible outline on the element keyboard focus
    reaches first."""
    results = await page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    problems = [
        f"axe {v['impact']} {v['id']}: {v['help']} at "
        + "; ".join(" ".join(node["target"]) for node in v["nodes"][:5])
        for v in results["violations"]
        if v["impact"] in SERIOUS
    ]
    shape = await page.evaluate(
        """() => ({
            main: document.querySelectorAll('main').length,
            title: document.title.trim(),
            h1: document.querySelectorAll('h1').length,
        })"""
    )
    if shape["main"] != 1:
        problems.append(f"{shape['main']} <main> elements")
    if not shape["title"]:
        problems.append("no <title>")
    if shape["h1"] != 1:
        problems.append(f"{shape['h1']} <h1> elements")
    focus = await focus_ring(page)
    if focus is not None:
        problems.append(focus)
    return problems


async def focus_ring(page: Page) -> str | None:
    """Tab once from the top: the focused element must show an outline (or a ring)."""
    await page.evaluate("() => { document.activeElement?.blur(); window.scrollTo(0, 0); }")
    await page.keyboard.press("Tab")
    style = await page.evaluate(
        """() => {
            const el = document.activeElement;
            if (!el || el === document.body) return null;
            const s = getComputedStyle(el);
            return {tag: el.tagName, text: (el.textContent || '').trim().slice(0, 40),
                    outline: s.outlineStyle, width: parseFloat(s.outlineWidth),
                    shadow: s.boxShadow};
        }"""
    )
    if style is None:
        return "Tab focuses nothing"
    visible = (style["outline"] != "none" and style["width"] > 0) or style["shadow"] != "none"
    if not visible:
        return f"no visible focus on {style['tag']} {style['text']!r}: {style}"
    return None


async def screenshot(page: Page, name: str, viewport: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = VIEWPORTS[viewport]["viewport"]["width"]
    await page.screenshot(path=str(SCREENSHOTS / f"{name}-{width}.png"), full_page=True)


async def settle(page: Page) -> None:
    """Until the page has loaded and its scripts ran (not "networkidle": the live events'
    stream stays open)."""
    await page.wait_for_load_state("load")
    await asyncio.sleep(0.1)
