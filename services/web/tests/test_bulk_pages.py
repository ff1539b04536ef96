"""The task list's bulk change (issue 21): tick tasks, change their status, assignee,
labels or due date at once through POST /api/v1/tasks/bulk, all or nothing, each refused
task's reason beside its row. A plain form: it works without scripts."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio

from .conftest import (
    ORIGIN,
    Browser,
    browser_for,
    embedded_runtime,
    participant,
    team_with_member,
    until_status,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class World:
    api: httpx.AsyncClient
    ada: Browser  # leads the team: every permission
    bob: Browser  # a viewer: no permission
    tokens: dict[str, str]
    team_id: str
    bob_id: str

    async def call(self, method: str, path: str, who: str = "ada", **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        response = await self.api.request(method, path, headers=headers, **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def project_with(self, *titles: str) -> tuple[str, list[str]]:
        project = await self.call(
            "POST", "/api/v1/projects", json={"team_id": self.team_id, "name": "Bulk"}
        )
        ids = []
        for title in titles:
            made = await self.call(
                "POST", f"/api/v1/projects/{project['id']}/tasks", json={"title": title}
            )
            ids.append(str(made["id"]))
        return str(project["id"]), ids


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    data = tmp_path_factory.mktemp("bulk-pages")
    async with embedded_runtime(data) as dispatcher:
        mail = data / "mail"
        web = dispatcher.apps["web"]
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=dispatcher), base_url=ORIGIN)
        ada, bob = browser_for(web, mail), browser_for(web, mail)
        async with api, ada.client, bob.client:
            tokens = {
                "ada": await participant(api, ada, "ada", "+14155550111"),
                "bob": await participant(api, bob, "bob", "+14155550112"),
            }
            team_id = await team_with_member(
                api, mail, tokens["ada"], tokens["bob"], "bob@example.com", "Viewer"
            )
            me = (
                await api.get(
                    "/api/v1/auth/users/me", headers={"Authorization": f"Bearer {tokens['bob']}"}
                )
            ).json()
            yield World(api, ada, bob, tokens, team_id, str(me["id"]))


def picks(page: str) -> dict[str, str]:
    """Each row's tick box value (``<id>:<version>``) by task id."""
    found = re.findall(
        r'<input type="checkbox" class="pick" form="bulk" name="task" value="([^"]+)"', page
    )
    return {html.unescape(value).partition(":")[0]: html.unescape(value) for value in found}


def row(page: str, task_id: str) -> str:
    found = re.search(
        rf'<li class="list-item task-row[^"]*" id="row-{task_id}">.*?</li>', page, re.S
    )
    assert found, page
    return found.group(0)


async def test_ticked_tasks_change_at_once(world: World) -> None:
    project, (one, two, three) = await world.project_with("One", "Two", "Three")
    listed = await world.ada.get(f"/projects/{project}/tasks?sort=created_at")
    assert listed.status_code == 200, listed.text
    assert 'action="/projects/' + project + '/tasks/bulk"' in listed.text
    assert "Change the selected tasks" in listed.text
    ticks = picks(listed.text)
    assert set(ticks) == {one, two, three}
    assert f'<label for="pick-{one}" class="vh">Select “One”</label>' in listed.text
    changed = await world.ada.client.post(
        f"/projects/{project}/tasks/bulk",
        data={
            "csrf_token": world.ada.csrf,
            "task": [ticks[one], ticks[two]],
            "status": "in_progress",
            "add_assignee": world.bob_id,
            "add_labels": "launch, ui",
            "due_date": "2031-05-04",
            "back": "sort=created_at",
        },
        headers={"Origin": ORIGIN},
    )
    assert changed.status_code == 303, changed.text
    assert changed.headers["location"] == f"/projects/{project}/tasks?sort=created_at"
    shown = await world.ada.get(changed.headers["location"])
    assert "2 tasks changed." in shown.text
    for task_id in (one, two):
        task = await world.call("GET", f"/api/v1/tasks/{task_id}")
        assert task["status"] == "in_progress" and task["labels"] == ["launch", "ui"]
        assert [a["id"] for a in task["assignees"]] == [world.bob_id]
        assert task["due_at"].startswith("2031-05-04")
    untouched = await world.call("GET", f"/api/v1/tasks/{three}")
    assert untouched["status"] == "todo" and untouched["labels"] == []
    cleared = await world.ada.post(
        f"/projects/{project}/tasks/bulk",
        {"task": picks(shown.text)[one], "clear_due": "true", "remove_labels": "ui"},
    )
    assert cleared.status_code == 303, cleared.text
    task = await world.call("GET", f"/api/v1/tasks/{one}")
    assert task["due_at"] is None and task["labels"] == ["launch"]


async def test_one_stale_task_changes_nothing_and_says_why_beside_it(world: World) -> None:
    project, (one, two) = await world.project_with("Fresh", "Stale")
    listed = await world.ada.get(f"/projects/{project}/tasks")
    ticks = picks(listed.text)
    # Someone changes "Stale" after the list was shown.
    await world.call("PATCH", f"/api/v1/tasks/{two}", json={"title": "Stale, renamed"})
    refused = await world.ada.client.post(
        f"/projects/{project}/tasks/bulk",
        data={"csrf_token": world.ada.csrf, "task": list(ticks.values()), "status": "in_review"},
        headers={"Origin": ORIGIN},
    )
    assert refused.status_code == 412, refused.text
    assert "Nothing was changed." in refused.text and 'role="alert"' in refused.text
    stale = row(refused.text, two)
    assert 'aria-invalid="true"' in stale and f'id="why-{two}"' in stale and "Not changed:" in stale
    assert "Not changed:" not in row(refused.text, one)
    assert "checked" in row(refused.text, one)  # the selection is kept, to send again
    for task_id in (one, two):
        assert (await world.call("GET", f"/api/v1/tasks/{task_id}"))["status"] == "todo"


async def test_a_viewer_gets_no_tick_boxes_and_a_forged_post_changes_nothing(world: World) -> None:
    project, (one,) = await world.project_with("Guarded")
    ada_list = await world.ada.get(f"/projects/{project}/tasks")
    tick = picks(ada_list.text)[one]
    listed = await until_status(lambda: world.bob.get(f"/projects/{project}/tasks"), 200)
    assert "Guarded" in listed.text and picks(listed.text) == {}
    assert "Change the selected tasks" not in listed.text
    await world.bob.get(f"/projects/{project}/tasks")
    forged = await world.bob.post(
        f"/projects/{project}/tasks/bulk", {"task": tick, "status": "done"}
    )
    assert forged.status_code == 403, forged.text
    assert "Nothing was changed" in forged.text
    assert (await world.call("GET", f"/api/v1/tasks/{one}"))["status"] == "todo"


async def test_nothing_ticked_or_nothing_chosen_is_said_plainly(world: World) -> None:
    project, (one,) = await world.project_with("Alone")
    listed = await world.ada.get(f"/projects/{project}/tasks")
    nothing = await world.ada.post(f"/projects/{project}/tasks/bulk", {"status": "done"})
    assert nothing.status_code == 422 and "Select at least one task" in nothing.text
    assert 'value="done" selected' in nothing.text  # the choice is kept
    unchosen = await world.ada.post(
        f"/projects/{project}/tasks/bulk", {"task": picks(listed.text)[one]}
    )
    assert unchosen.status_code == 422 and "Choose what to change" in unchosen.text
    bad = await world.ada.post(
        f"/projects/{project}/tasks/bulk",
        {"task": picks(listed.text)[one], "status": "nowhere"},
    )
    assert bad.status_code == 422, bad.text
    assert 'id="b-status-error"' in bad.text and 'aria-describedby="b-status-error"' in bad.text
    gone = await world.ada.post(
        f"/projects/{project}/tasks/bulk",
        {"task": "00000000-0000-0000-0000-000000000001:", "status": "done"},
    )
    assert gone.status_code == 404, gone.text
    assert "Task 00000000-0000-0000-0000-000000000001:" in gone.text  # not a row: at the top
