"""The projects, board, task list and task pages as people use them: a team's leader
(every permission), a viewer (none) and an outsider, against the real four services of the
embedded runtime (one runtime for the module: the pages only read and write the API)."""

from __future__ import annotations

import asyncio
import contextlib
import html
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Page, Position, Route, async_playwright
from taskflow_chassis.testing import in_ci
from taskflow_embedded.main import Dispatcher
from taskflow_web.tasks.service import BOARD_LIMIT

from .conftest import (
    ORIGIN,
    Browser,
    browser_for,
    embedded_runtime,
    form_version,
    participant,
    team_with_member,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

BOARD_BUDGET = 150_000  # bytes transferred by the board's first load
STATIC = re.compile(r'(?:href|src)="(/static/[^"]+)"')


@dataclass
class World:
    dispatcher: Dispatcher
    api: httpx.AsyncClient
    ada: Browser  # leads the team: every permission
    bob: Browser  # a viewer: no permission
    eve: Browser  # in no team
    tokens: dict[str, str]
    team_id: str
    bob_id: str

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def call(self, method: str, path: str, who: str = "ada", **kwargs: Any) -> Any:
        response = await self.api.request(method, path, headers=self.headers(who), **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def project(self, name: str) -> str:
        made = await self.call(
            "POST", "/api/v1/projects", json={"team_id": self.team_id, "name": name}
        )
        return str(made["id"])

    async def task(self, project_id: str, title: str, **fields: Any) -> dict[str, Any]:
        made: dict[str, Any] = await self.call(
            "POST", f"/api/v1/projects/{project_id}/tasks", json={"title": title, **fields}
        )
        return made


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    data = tmp_path_factory.mktemp("work-pages")
    async with embedded_runtime(data) as dispatcher:
        mail = data / "mail"
        web = dispatcher.apps["web"]
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=dispatcher), base_url=ORIGIN)
        ada, bob_browser, eve = (browser_for(web, mail) for _ in range(3))
        async with api, ada.client, bob_browser.client, eve.client:
            tokens = {
                "ada": await participant(api, ada, "ada", "+14155550111"),
                "bob": await participant(api, bob_browser, "bob", "+14155550112"),
                "eve": await participant(api, eve, "eve", "+14155550113"),
            }
            team_id = await team_with_member(
                api, mail, tokens["ada"], tokens["bob"], "bob@example.com", "Viewer"
            )
            bob_key = {"Authorization": f"Bearer {tokens['bob']}"}
            me = (await api.get("/api/v1/auth/users/me", headers=bob_key)).json()
            yield World(dispatcher, api, ada, bob_browser, eve, tokens, team_id, me["id"])


async def _until_shown(browser: Browser, path: str, text: str) -> httpx.Response:
    """The page once it shows ``text`` (a change made elsewhere reaches web by an event)."""
    for _ in range(600):  # events: seconds on a busy machine
        page = await browser.get(path)
        if text in page.text:
            return page
        await asyncio.sleep(0.05)
    raise AssertionError(page.text)


def _column(board: str, status: str) -> str:
    found = re.search(rf'<section class="column" id="column-{status}".*?</section>', board, re.S)
    assert found, board
    return found.group(0)


async def test_projects_page_create_archive_delete_restore(world: World) -> None:
    page = await world.ada.get(f"/teams/{world.team_id}/projects")
    assert page.status_code == 200, page.text
    assert "New project" in page.text and "Launch crew" in page.text

    nameless = await world.ada.post(
        f"/teams/{world.team_id}/projects", {"name": " ", "description": ""}
    )
    assert nameless.status_code == 422, nameless.text
    field = re.search(r'<input id="f-name"[^>]*>', nameless.text)
    assert field and 'aria-invalid="true"' in field.group(0), nameless.text
    assert 'id="f-name-error"' in nameless.text and 'role="alert"' in nameless.text

    created = await world.ada.post(
        f"/teams/{world.team_id}/projects", {"name": "Website", "description": "The new site"}
    )
    assert created.status_code == 303, created.text
    project_id = created.headers["location"].rsplit("/", 1)[1]
    listed = await world.ada.get(f"/teams/{world.team_id}/projects")
    assert f'href="/projects/{project_id}"' in listed.text

    archived = await world.ada.post(
        f"/projects/{project_id}/archive",
        {
            "archived": "true",
            "version": form_version(listed.text, f"/projects/{project_id}/archive"),
        },
    )
    assert archived.status_code == 303
    listed = await world.ada.get(f"/teams/{world.team_id}/projects")
    assert "archived: takes no new tasks" in listed.text and "Unarchive" in listed.text
    board = await world.ada.get(f"/projects/{project_id}")
    assert "takes no new tasks" in board.text and 'class="quick-add"' not in board.text
    reopened = await world.ada.post(
        f"/projects/{project_id}/archive",
        {
            "archived": "false",
            "version": form_version(listed.text, f"/projects/{project_id}/archive"),
        },
    )
    assert reopened.status_code == 303
    listed = await world.ada.get(f"/teams/{world.team_id}/projects")
    assert "is open again" in listed.text

    # A viewer sees the projects, no action; an outsider gets 404.
    seen = await world.bob.get(f"/teams/{world.team_id}/projects")
    assert seen.status_code == 200 and "Website" in seen.text
    assert (
        "New project" not in seen.text
        and "/archive" not in seen.text
        and "/delete" not in seen.text
    )
    refused = await world.bob.post(f"/projects/{project_id}/delete", {"version": "*"})
    assert refused.status_code == 303
    assert "You may not do that here" in (await world.bob.get(refused.headers["location"])).text
    assert (await world.eve.get(f"/teams/{world.team_id}/projects")).status_code == 404

    # A stale version: someone else changed the project since the page was shown.
    stale = form_version(listed.text, f"/projects/{project_id}/delete")
    await world.call("PATCH", f"/api/v1/projects/{project_id}", json={"description": "changed"})
    late = await world.ada.post(f"/projects/{project_id}/delete", {"version": stale})
    assert "changed by someone else" in (await world.ada.get(late.headers["location"])).text

    listed = await world.ada.get(f"/teams/{world.team_id}/projects")
    deleted = await world.ada.post(
        f"/projects/{project_id}/delete",
        {"version": form_version(listed.text, f"/projects/{project_id}/delete")},
    )
    assert deleted.status_code == 303 and "deleted=" in deleted.headers["location"]
    shown = await world.ada.get(deleted.headers["location"])
    assert "can be restored for 30 days" in shown.text
    assert f'action="/projects/{project_id}/restore"' in shown.text
    assert (await world.ada.get(f"/projects/{project_id}")).status_code == 404
    restored = await world.ada.post(f"/projects/{project_id}/restore")
    assert restored.status_code == 303
    assert "restored with its tasks" in (await world.ada.get(restored.headers["location"])).text
    assert (await world.ada.get(f"/projects/{project_id}")).status_code == 200


async def test_board_quick_add_and_move(world: World) -> None:
    project_id = await world.project("Board")
    added = await world.ada.post(
        f"/projects/{project_id}/tasks", {"title": "Write the post", "status": "todo"}
    )
    assert added.status_code == 303, added.text
    board = await world.ada.get(f"/projects/{project_id}")
    assert board.status_code == 200
    assert "Write the post" in _column(board.text, "todo")

    empty = await world.ada.post(
        f"/projects/{project_id}/tasks", {"title": "", "status": "in_review"}
    )
    assert empty.status_code == 422, empty.text
    field = re.search(r'<input id="add-in_review"[^>]*>', empty.text)
    assert field and 'aria-invalid="true"' in field.group(0)
    assert 'aria-describedby="add-in_review-error"' in field.group(0)
    assert 'id="add-in_review-error"' in empty.text

    [task] = (await world.call("GET", "/api/v1/tasks", params={"project_id": project_id}))["items"]
    await world.call(
        "POST", f"/api/v1/tasks/{task['id']}/assignees", json={"user_id": world.bob_id}
    )
    # Made straight at the API, not through web: the board shows it once the event has
    # reached web (its kept answers are out of date from then on).
    board = await _until_shown(world.ada, f"/projects/{project_id}", "bob")
    card = _column(board.text, "todo")
    assert "bob" in card and "Medium" in card  # assignees' names and the priority
    version = form_version(board.text, f"/tasks/{task['id']}/move")
    moved = await world.ada.post(
        f"/tasks/{task['id']}/move", {"status": "in_progress", "version": version}
    )
    assert moved.status_code == 303 and moved.headers["location"] == f"/projects/{project_id}"
    board = await world.ada.get(moved.headers["location"])
    assert "moved to In progress" in board.text
    assert "Write the post" in _column(board.text, "in_progress")
    assert "Write the post" not in _column(board.text, "todo")

    # The same card moved on a version someone else's change made stale: it stays put.
    again = await world.ada.post(
        f"/tasks/{task['id']}/move", {"status": "in_review", "version": version}
    )
    board = await world.ada.get(again.headers["location"])
    assert "was not moved" in board.text and "changed by someone else" in board.text
    assert "Write the post" in _column(board.text, "in_progress")

    # A viewer sees the board without moves or quick-add; the API refuses a forced move.
    seen = await world.bob.get(f"/projects/{project_id}")
    assert seen.status_code == 200 and "Write the post" in seen.text
    assert 'class="move"' not in seen.text and 'class="quick-add"' not in seen.text
    assert 'draggable="true"' not in seen.text
    forced = await world.bob.post(f"/tasks/{task['id']}/move", {"status": "todo", "version": "*"})
    board = await world.bob.get(forced.headers["location"])
    assert "was not moved" in board.text and "You may not do that here" in board.text
    assert "Write the post" in _column(board.text, "in_progress")
    assert (await world.eve.get(f"/projects/{project_id}")).status_code == 404
    assert (
        await world.eve.post(f"/tasks/{task['id']}/move", {"status": "todo"})
    ).status_code == 404


async def test_the_board_loads_within_its_budget(world: World) -> None:
    """A full board (its 100 cards, each with a due date, some with an assignee) and every
    file it loads, as transferred: the page as served, the static files compressed."""
    project_id = await world.project("Budget")
    for number in range(BOARD_LIMIT + 1):
        await world.task(
            project_id,
            f"Task number {number} with a title of a realistic length",
            due_at="2026-12-24",
            # Some assigned (each assignment is an email: the runtime stops sooner).
            assignee_ids=[world.bob_id] if number % 10 == 0 else [],
        )
    board = await world.ada.get(f"/projects/{project_id}")
    assert board.status_code == 200
    assert board.text.count('class="task-card"') == BOARD_LIMIT
    assert f"The board shows the first {BOARD_LIMIT} tasks" in board.text
    sizes = {"page": _transferred(board)}
    for path in STATIC.findall(board.text):
        asset = await world.ada.get(html.unescape(path), headers={"Accept-Encoding": "gzip"})
        assert asset.status_code == 200, path
        assert asset.headers["content-encoding"] == "gzip", path
        sizes[path] = _transferred(asset)
    assert len(sizes) == 4, sizes  # the page, its CSS, htmx and app.js
    total = sum(sizes.values())
    assert total < BOARD_BUDGET, sizes
    print(f"\nthe board, {BOARD_LIMIT} cards: {total} bytes transferred {sizes}")


def _transferred(response: httpx.Response) -> int:
    """Bytes on the wire: the body as served (compressed, where it is)."""
    return response.num_bytes_downloaded


async def test_task_list_filters_search_and_load_more(world: World) -> None:
    project_id = await world.project("List")
    for number in range(52):
        await world.task(project_id, f"Routine {number}", priority="low")
    await world.task(
        project_id, "Launch post", priority="critical", status="in_progress", labels=["blog"]
    )
    await world.task(project_id, "Launch mail", priority="high", labels=["mail"])

    first = await world.ada.get(f"/projects/{project_id}/tasks")
    assert first.status_code == 200
    assert first.text.count('class="list-item task-row"') == 50
    assert 'id="load-more"' in first.text
    more = re.search(r'<li id="load-more" class="more"><a href="([^"]+)"', first.text)
    assert more, first.text
    link = more.group(1).replace("&amp;", "&")
    plain = await world.ada.get(link)  # without scripts: the next page
    assert plain.status_code == 200 and "<html" in plain.text
    rows = await world.ada.get(link, headers={"HX-Request": "true", "HX-Target": "load-more"})
    assert rows.status_code == 200 and "<html" not in rows.text
    assert rows.text.count('class="list-item task-row"') == 4
    assert 'id="load-more"' not in rows.text
    shown = re.findall(r">(Routine \d+|Launch \w+)</a>", first.text + rows.text)
    assert len(shown) == len(set(shown)) == 54

    filtered = await world.ada.get(
        f"/projects/{project_id}/tasks",
        params=[("priority", "critical"), ("priority", "high"), ("sort", "-priority")],
    )
    titles = re.findall(r">(Routine \d+|Launch \w+)</a>", filtered.text)
    assert titles == ["Launch post", "Launch mail"]
    assert 'value="critical" checked' in filtered.text and 'value="high" checked' in filtered.text
    labelled = await world.ada.get(
        f"/projects/{project_id}/tasks",
        params=[("label", "blog"), ("label", "mail"), ("label", "")],
    )
    assert set(re.findall(r">(Launch \w+)</a>", labelled.text)) == {"Launch post", "Launch mail"}
    searched = await world.ada.get(
        f"/projects/{project_id}/tasks", params={"q": "Launch", "status": "in_progress"}
    )
    assert re.findall(r">(Routine \d+|Launch \w+)</a>", searched.text) == ["Launch post"]
    assert (await world.bob.get(f"/projects/{project_id}/tasks")).status_code == 200
    assert (await world.eve.get(f"/projects/{project_id}/tasks")).status_code == 404


async def test_task_page_edit_assign_comment(world: World) -> None:
    project_id = await world.project("Detail")
    task = await world.task(project_id, "Draft the plan", due_at="2026-12-24")
    path = f"/tasks/{task['id']}"
    page = await world.ada.get(path)
    assert page.status_code == 200, page.text
    assert "Draft the plan" in page.text and "2026-12-24" in page.text
    assert 'action="/tasks/{}/delete"'.format(task["id"]) in page.text
    version = form_version(page.text, path)

    untitled = await world.ada.post(
        path,
        {
            "title": "",
            "status": "todo",
            "priority": "medium",
            "due_date": "2026-12-24",
            "version": version,
        },
    )
    assert untitled.status_code == 422, untitled.text
    field = re.search(r'<input id="f-title"[^>]*>', untitled.text)
    assert field and 'aria-invalid="true"' in field.group(0)

    saved = await world.ada.post(
        path,
        {
            "title": "Draft the plan",
            "description": "Two pages",
            "status": "in_progress",
            "priority": "high",
            "due_date": "2026-12-24",
            "due_time": "15:30",
            "labels": "plan, q1",
            "version": version,
        },
    )
    assert saved.status_code == 303, saved.text
    page = await world.ada.get(path)
    assert "Task saved." in page.text and "2026-12-24 15:30 UTC" in page.text
    assert "Two pages" in page.text and ">plan</span>" in page.text

    stale = await world.ada.post(
        path,
        {"title": "Another title", "status": "in_progress", "priority": "high", "version": version},
    )
    assert stale.status_code == 412, stale.text
    assert (
        "changed by someone else" in stale.text
        and f'<a href="{path}">Reload the task</a>' in stale.text
    )
    assert 'value="Another title"' in stale.text  # what was typed is kept

    version = form_version(page.text, path)
    assigned = await world.ada.post(f"{path}/assignees", {"user_id": world.bob_id})
    assert assigned.status_code == 303
    page = await world.ada.get(path)
    assert "Assignee added." in page.text and f"/assignees/{world.bob_id}/remove" in page.text
    removed = await world.ada.post(
        f"{path}/assignees/{world.bob_id}/remove",
        {"version": form_version(page.text, f"{path}/assignees/{world.bob_id}/remove")},
    )
    assert removed.status_code == 303
    page = await world.ada.get(path)
    assert "Assignee removed." in page.text and "Nobody yet." in page.text

    blank = await world.ada.post(f"{path}/comments", {"body": "  "})
    assert blank.status_code == 422
    area = re.search(r'<textarea id="f-body"[^>]*>', blank.text)
    assert area and 'aria-invalid="true"' in area.group(0) and 'id="f-body-error"' in blank.text
    commented = await world.ada.post(f"{path}/comments", {"body": "First thoughts"})
    assert commented.status_code == 303
    page = await world.ada.get(path)
    comment_id = re.search(r'id="comment-([0-9a-f-]+)"', page.text).group(1)  # type: ignore[union-attr]
    edit = f"/comments/{comment_id}"
    edited = await world.ada.post(
        edit, {"body": "Second thoughts", "version": form_version(page.text, edit)}
    )
    assert edited.status_code == 303
    page = await world.ada.get(path)
    assert "Second thoughts" in page.text and "edited" in page.text
    emptied = await world.ada.post(edit, {"body": "", "version": form_version(page.text, edit)})
    assert emptied.status_code == 422
    assert f'id="c-{comment_id}-error"' in emptied.text and "<details open>" in emptied.text

    # Activity names the people; the viewer reads but may change nothing; outsiders get 404.
    activity = page.text.split('id="h-activity"')[1]
    assert "ada · created" in activity and "ada · updated" in activity
    assert 'ada · assigned<span class="change"> bob</span>' in activity
    seen = await world.bob.get(path)
    assert seen.status_code == 200 and "Second thoughts" in seen.text
    for action in (
        'action="/tasks/{}"'.format(task["id"]),
        "/delete",
        "/assignees",
        "Add a comment",
        "Save comment",
    ):
        assert action not in seen.text, action
    refused = await world.bob.post(f"{path}/comments", {"body": "Me too"})
    assert refused.status_code == 303
    assert "You may not do that here" in (await world.bob.get(path)).text
    assert (await world.eve.get(path)).status_code == 404
    assert (await world.eve.post(edit, {"body": "x"})).status_code == 404

    deleted = await world.ada.post(
        f"/comments/{comment_id}/delete",
        {"version": form_version(page.text, f"/comments/{comment_id}/delete")},
    )
    assert deleted.status_code == 303
    page = await world.ada.get(path)
    assert "Comment deleted." in page.text and "No comments yet." in page.text
    gone = await world.ada.post(
        f"{path}/delete", {"version": form_version(page.text, f"{path}/delete")}
    )
    assert gone.status_code == 303 and gone.headers["location"] == f"/projects/{project_id}"
    assert (await world.ada.get(path)).status_code == 404


@contextlib.asynccontextmanager
async def browser_page(
    world: World, sent: list[dict[str, str]] | None = None, width: int = 1280
) -> AsyncIterator[Page]:
    """A chromium page (``width`` px wide) whose every request web answers in-process with
    ada's session; the posts' headers go to ``sent``. Skips without chromium (fails in CI)."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(chromium, os.X_OK):
        reason = "no chromium for the browser tests (make browser installs it)"
        if in_ci():
            pytest.fail(f"{reason}, and CI is set", pytrace=False)
        pytest.skip(reason)

    async def through_web(route: Route) -> None:
        request = route.request
        if request.url.endswith("/events"):  # the live stream: not these tests' business
            await route.abort()
            return
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED}
        if request.method == "POST" and sent is not None:
            sent.append(headers)
        # The redirect after a post followed here, as the browser would.
        answer = await world.ada.client.request(
            request.method,
            request.url,
            headers=headers,
            content=request.post_data_buffer,
            follow_redirects=True,
        )
        await route.fulfill(
            status=answer.status_code,
            headers={k: v for k, v in answer.headers.items() if k.lower() in KEPT},
            body=answer.content,
        )

    async with async_playwright() as playwright:
        running = await playwright.chromium.launch(executable_path=chromium, args=["--disable-gpu"])
        try:
            page = await running.new_page(viewport={"width": width, "height": 800})
            await page.route("**/*", through_web)
            yield page
        finally:
            await running.close()


async def test_a_card_dropped_on_a_column_moves_in_a_browser(world: World) -> None:
    """app.js in chromium: a card dragged onto another column sends its move form through
    htmx (the CSRF header, its version); the board comes back as the API has it. A drop on
    a stale version leaves the card in its column, beside the message."""
    project_id = await world.project("Dropped")
    task = await world.task(project_id, "Drag me")
    sent: list[dict[str, str]] = []
    async with browser_page(world, sent) as page:
        await page.goto(f"{ORIGIN}/projects/{project_id}")
        await page.wait_for_function("window.htmx !== undefined")
        await page.drag_and_drop(
            "#column-todo .task-card", "#column-in_review", source_position=CARD_EDGE
        )
        await page.wait_for_selector("text=moved to In review")
        assert "Drag me" in await page.inner_text("#column-in_review")
        assert sent[-1]["x-csrf-token"] and sent[-1]["hx-request"] == "true"

        # Someone else moves it back meanwhile: this page's version is stale.
        await world.call("PATCH", f"/api/v1/tasks/{task['id']}", json={"status": "todo"})
        await page.drag_and_drop(
            "#column-in_review .task-card", "#column-done", source_position=CARD_EDGE
        )
        await page.wait_for_selector("text=was not moved")
        assert "changed by someone else" in await page.inner_text("main")
        assert "Drag me" in await page.inner_text("#column-todo")
        assert "Drag me" not in await page.inner_text("#column-done")


@pytest.mark.parametrize("width", [360, 1280])
async def test_the_pages_pass_axe_and_fit_the_screen(world: World, width: int) -> None:
    """axe-core (serious and critical) on each page, with content; at 360 px nothing but
    the board's columns scrolls sideways."""
    project_id = await world.project(f"Checked at {width}")
    task = await world.task(project_id, "A task to look at", due_at="2026-12-24", labels=["a11y"])
    assign = f"/api/v1/tasks/{task['id']}/assignees"
    await world.call("POST", assign, json={"user_id": world.bob_id})
    await world.call("POST", f"/api/v1/tasks/{task['id']}/comments", json={"body": "Looks fine"})
    pages = {
        "projects": f"/teams/{world.team_id}/projects",
        "board": f"/projects/{project_id}",
        "list": f"/projects/{project_id}/tasks",
        "task": f"/tasks/{task['id']}",
    }
    problems: dict[str, list[str]] = {}
    async with browser_page(world, width=width) as page:
        for name, path in pages.items():
            await page.goto(ORIGIN + path)
            await page.add_script_tag(path=str(AXE))
            results = await page.evaluate(
                "async () => await axe.run(document, {resultTypes: ['violations']})"
            )
            found = [
                f"{v['impact']} {v['id']}: {v['help']} at "
                + "; ".join(" ".join(node["target"]) for node in v["nodes"][:3])
                for v in results["violations"]
                if v["impact"] in {"serious", "critical"}
            ]
            overflow = await page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            if overflow > 0:
                found.append(f"{overflow} px wider than the screen")
            if found:
                problems[name] = found
    assert not problems, problems


# What the page's requests carry to web, and what web's answers carry back.
FORWARDED = {"content-type", "origin", "x-csrf-token", "hx-request", "hx-target", "hx-current-url"}
KEPT = {"content-type", "location", "cache-control"}
# axe-core, vendored for the browser tests of tests/system.
AXE = Path(__file__).resolve().parents[3] / "tests/system/vendor/axe-core/axe.min.js"
# Where a drag starts: the card's own padding, not its link or its form's controls.
CARD_EDGE: Position = {"x": 3, "y": 3}
